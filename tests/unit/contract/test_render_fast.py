"""`renderer` (template scanned once) renders exactly what `render` does, row by row."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.contract.model import FieldError
from service.contract.normalise import render, renderer, template_variables

names = st.sampled_from(["name", "order_id", "amount", "_x", "contact"])
pieces = st.one_of(
    st.text(alphabet="abc {}$%\\.€", max_size=6).filter(lambda t: "{" not in t and "}" not in t),
    names.map(lambda n: "{" + n + "}"),
)
values = st.text(alphabet="ab{}\\$%s1", max_size=6)


@settings(max_examples=1000, deadline=None)
@given(st.lists(pieces, max_size=8).map("".join), st.dictionaries(names, values))
def test_renderer_equals_render(template: str, extra: dict[str, str]) -> None:
    variables = template_variables(template)
    assert not isinstance(variables, FieldError)
    row = {name: f"<{name}>" for name in variables} | extra
    assert renderer(template)(row) == render(template, row)
