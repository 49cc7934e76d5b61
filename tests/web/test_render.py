"""The template renderer (syncpay/web/render.py): values, words, if, for, include, errors."""

from __future__ import annotations

from typing import Any

import pytest

from syncpay.web import render as r
from syncpay.web.markup import Markup
from syncpay.web.render import Template
from syncpay.web.templating import TemplateError


def words(key: str, **values: Any) -> str:
    table = {"hi": "Hello <b>", "count": "{n} of {total} for {who}"}
    return table.get(key, key).format(**values)


def fill(source: str, context: dict[str, Any] | None = None, **templates: str) -> str:
    def load(name: str) -> Template:
        return Template(templates[name], name, load)

    return Template(source, "t.html", load).render(context or {}, words)


def test_values_are_escaped_and_markup_is_not() -> None:
    context = {"a": "<x>&\"'", "m": Markup("<i>ok</i>"), "n": None, "d": {"b": {"c": 3}}}
    out = fill("{{ a }}|{{m}}|{{ n }}|{{ d.b.c }}|{{ missing.x }}", context)
    assert out == "&lt;x&gt;&amp;&quot;&#x27;|<i>ok</i>||3|"
    assert isinstance(out, Markup)


def test_words_with_named_values_from_the_context() -> None:
    context = {"count": 3, "all": 9, "user": {"name": "<Ana>"}}
    out = fill("{{ _:hi }} {{ _:count n=count total=all who=user.name }}", context)
    assert out == "Hello &lt;b&gt; 3 of 9 for &lt;Ana&gt;"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"a": 1}, "A"),
        ({"a": [], "b": "x"}, "B"),
        ({"a": 0, "b": ""}, "C"),
        ({}, "C"),
    ],
)
def test_if_elif_else(context: dict[str, Any], expected: str) -> None:
    assert fill("{% if a %}A{% elif b %}B{% else %}C{% endif %}", context) == expected


def test_if_not() -> None:
    assert fill("{% if not a %}none{% endif %}", {"a": []}) == "none"
    assert fill("{% if not a %}none{% endif %}", {"a": [1]}) == ""


def test_for_with_loop_and_else() -> None:
    source = (
        "{% for x in xs %}{{ loop.index }}:{{ x }}"
        "{% if loop.first %}F{% endif %}{% if loop.last %}L{% else %},{% endif %}"
        "{% else %}empty{% endfor %}"
    )
    assert fill(source, {"xs": ["a", "<b>", "c"]}) == "1:aF,2:&lt;b&gt;,3:cL"
    assert fill(source, {"xs": []}) == "empty"
    assert fill(source, {}) == "empty"


def test_nested_loops_see_outer_names() -> None:
    source = (
        "{% for row in rows %}[{% for c in row.cells %}{{ row.name }}{{ c }}"
        "{{ loop.index }}{% endfor %}]{{ loop.index }}{% endfor %}{{ row }}"
    )
    rows = [{"name": "a", "cells": [1, 2]}, {"name": "b", "cells": [3]}]
    assert fill(source, {"rows": rows, "row": "outer"}) == "[a11a22]1[b31]2outer"


def test_include_shares_the_context() -> None:
    out = fill('<{% include "part.html" %}>', {"x": "<1>"}, **{"part.html": "p{{ x }}"})
    assert out == "<p&lt;1&gt;>"


def test_a_tag_alone_on_its_line_takes_the_line() -> None:
    source = "<ul>\n  {% for x in xs %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n"
    assert fill(source, {"xs": [1, 2]}) == "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n"


@pytest.mark.parametrize(
    ("source", "line", "words_"),
    [
        ("a\n{% frobnicate %}", 2, "unknown tag"),
        ("{% if a %}\nx\n", 1, "never closed"),
        ("{% for x in xs %}{% if x %}{% endfor %}", 1, "without"),
        ("x\n\n{% endif %}", 3, "without"),
        ("{% else %}", 1, "without"),
        ("{% for x of xs %}{% endfor %}", 1, "for item in items"),
        ("{{ a b }}", 1, "cannot read"),
        ("{% if a b %}{% endif %}", 1, "condition"),
        ("{% if a %}{% endif x %}", 1, "unexpected"),
        ('{% include "../secret" %}', 1, "include"),
    ],
)
def test_errors_name_template_and_line(source: str, line: int, words_: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template(source, "bad.html")
    assert caught.value.template == "bad.html" and caught.value.line == line
    assert f"template bad.html, line {line}:" in str(caught.value)
    assert words_ in str(caught.value)


def test_every_template_compiles_once() -> None:
    names = [p.name for p in r.TEMPLATES.iterdir() if p.name.endswith(".html")]
    assert "layout.html" in names
    for name in names:
        assert r.template(name) is r.template(name)
