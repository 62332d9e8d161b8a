"""The Icarus netlist: clocked blocks merged and grouped, self-clocking wrapper, both Icarus paths exact."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from hwgen import load
from hwgen.hwconfig import AccelConfig
from hwgen.hwverify import verify
from hwgen.simnetlist import clock_wrapper, group_branches, merge_clocked

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


def test_merge_clocked_gathers_every_statement():
    merged = merge_clocked(VERILOG)
    assert merged.count("always @(posedge clk)") == 1
    body = merged[merged.index("always @(posedge clk) begin"):merged.index("endmodule")]
    for statement in ("q <= a;", "if (a[0]) begin", "r <= 1'h1;", "else begin", "r <= 1'h0;", "mem[0] <= a;"):
        assert statement in body, statement
    assert "assign o = q[1:0];" in merged and merged.count("reg [3:0] q;") == 1


#: Yosys-style clocked statements in one block (so their order is defined):
#: resets and enables shared by several registers, an escaped-name condition
#: on its own line, and one memory written by three statements (their order
#: decides a same-address write).
REGISTERS = r"""module g(clk, rst, en, a, b, q0, q1, q2, q3, m0);
  input clk, rst, en;
  input [3:0] a, b;
  output reg [3:0] q0 = 0, q1 = 0, q2 = 0, q3 = 0, m0 = 0;
  wire \\e.n = a[1] ^ b[0];
  reg [3:0] mem [3:0];
  always @(posedge clk) begin
    if (rst) q0 <= 4'h0;
    else q0 <= a;
    if (rst) q1 <= 4'h0;
    else if (en) q1 <= b;
    if (en)
      mem[a[1:0]] <= b;
    if (rst) q2 <= 4'h3;
    else if (en) q2 <= a ^ b;
    if (a[0]) mem[b[1:0]] <= a;
    if (\\e.n )
      q3 <= b + q3;
    if (en) mem[0] <= q1;
    m0 <= mem[a[1:0]];
  end
endmodule
"""

BENCH = """module tb;
  reg clk = 0, rst = 1, en = 0; reg [3:0] a = 0, b = 0; integer i, seed = 7;
  wire [3:0] q0, q1, q2, q3, m0;
  g dut (clk, rst, en, a, b, q0, q1, q2, q3, m0);
  initial begin
    for (i = 0; i < 400; i = i + 1) begin
      {rst, en, a, b} = $random(seed); rst = rst & (i % 37 == 0);
      #1 clk = 1; #1 clk = 0;
      $display("%h %h %h %h %h", q0, q1, q2, q3, m0);
    end
  end
endmodule
"""


def _simulate(verilog: str, work) -> str:
    (work / "g.v").write_text(verilog)
    (work / "tb.v").write_text(BENCH)
    subprocess.run(["iverilog", "-o", str(work / "sim"), str(work / "g.v"), str(work / "tb.v")], check=True)
    return subprocess.run(["vvp", "-n", str(work / "sim")], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
def test_grouped_branches_simulate_like_the_ungrouped_block(tmp_path):
    grouped = merge_clocked(REGISTERS)
    body = grouped[grouped.index("always @(posedge clk) begin"):grouped.index("endmodule")]
    assert body.count("if (rst)") == 1 and body.count("if (en)") == 3      # two memory writes, q1 and q2
    assert "q1 <= b;\n        q2 <= a ^ b;" in body
    assert body.index("mem[a[1:0]] <= b;") < body.index("mem[b[1:0]] <= a;") < body.index("mem[0] <= q1;")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    separate, merged = _simulate(REGISTERS, tmp_path / "a"), _simulate(grouped, tmp_path / "b")
    assert len(separate.splitlines()) == 400 and len(set(separate.splitlines())) > 50
    assert merged == separate


def test_group_branches_leaves_what_it_cannot_parse():
    body = ["      case (s)", "        1'h0: q <= a;", "      endcase", "      if (rst) r <= 1'h0;"]
    assert group_branches(body) == body


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
