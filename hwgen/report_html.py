"""Render :class:`hwgen.report.Section` lists as HTML (jinja2, escaped) and Markdown."""
from __future__ import annotations

from jinja2 import Environment

_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
 table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; }
 th { background: #f3f3f3; } code { background: #f6f6f6; padding: .1rem .3rem; }
 img { max-width: 100%; } .cmd { color: #555; font-size: .9rem; }
</style></head><body>
<h1>{{ title }}</h1>
{% for s in sections %}
<section><h2>{{ s.title }}</h2>
{% if s.text %}<p>{{ s.text }}</p>{% endif %}
{% if s.table %}<table><tr>{% for h in s.table[0] %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in s.table[1:] %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if loop.index0 in images %}<img alt="{{ s.title }}" src="data:image/png;base64,{{ images[loop.index0][1] }}">{% endif %}
<p class="cmd">command: <code>{{ s.command }}</code></p></section>
{% endfor %}
</body></html>
""")


def render_html(sections, title: str, images: dict) -> str:
    """One self-contained HTML page (figures as data URIs)."""
    return _HTML.render(sections=sections, title=title, images=images)


def render_markdown(sections, title: str, images: dict) -> str:
    """The same content as Markdown, figures linked from ``report_files/``."""
    out = [f"# {title}", ""]
    for i, s in enumerate(sections):
        out += [f"## {s.title}", ""]
        if s.text:
            out += [s.text, ""]
        if s.table:
            out += ["| " + " | ".join(s.table[0]) + " |", "|" + "---|" * len(s.table[0])]
            out += ["| " + " | ".join(row) + " |" for row in s.table[1:]] + [""]
        if i in images:
            out += [f"![{s.title}]({images[i][0]})", ""]
        out += [f"command: `{s.command}`", ""]
    return "\n".join(out)
