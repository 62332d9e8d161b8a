"""The Icarus netlist: clocked blocks merged, self-clocking wrapper, both Icarus paths exact."""
from __future__ import annotations

import numpy as np

from hwgen import load
from hwgen.hwconfig import AccelConfig
from hwgen.hwverify import verify
from hwgen.simnetlist import clock_wrapper, merge_clocked

MLP = "tests/data/conformance-mlp"

VERILOG = """module m(clk, a, q, r, o);
  input clk;
  input [3:0] a;
  output [3:0] q;
  reg [3:0] q;
  output r;
  reg r;
  output [1:0] o;
  reg [3:0] mem [1:0];
  always @(posedge clk)
    q <= a;
  always @(posedge clk)
    if (a[0]) r <= 1'h1;
    else r <= 1'h0;
  always @(posedge clk) begin
    mem[0] <= a;
  end
  assign o = q[1:0];
endmodule
"""


def test_merge_clocked_keeps_statements_in_order():
    merged = merge_clocked(VERILOG)
    assert merged.count("always @(posedge clk)") == 1
    body = merged[merged.index("always @(posedge clk) begin"):merged.index("endmodule")]
    assert body.index("q <= a;") < body.index("if (a[0])") < body.index("else r") < body.index("mem[0] <= a;")
    assert "assign o = q[1:0];" in merged and merged.count("reg [3:0] q;") == 1


def test_clock_wrapper_connects_every_port():
    wrapper = clock_wrapper(VERILOG, "m", 10)
    assert "module m_sim;" in wrapper and "reg clk = 1'b1;" in wrapper and "always #5 clk = ~clk;" in wrapper
    assert "reg [3:0] a;" in wrapper and "wire [3:0] q;" in wrapper and "wire r;" in wrapper
    assert "m dut (.clk(clk), .a(a), .q(q), .r(r), .o(o));" in wrapper


def test_icarus_emitted_verilog_and_netlist_agree():
    x = np.load(f"{MLP}/inputs.npy")[:2]
    fast = verify(load(MLP), x, AccelConfig(2, "event"), "icarus")
    exact = verify(load(MLP), x, AccelConfig(2, "event"), "icarus", icarus_verilog=True)
    assert fast.ok and exact.ok, fast.summary() + exact.summary()
    assert fast.cycles == exact.cycles
