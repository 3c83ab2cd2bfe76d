"""pyproject.toml's requirements and tests/oldest-versions.txt, the constraints file that
installs each at its lower bound, say the same versions (the suite has been run against that
file: reports/test-times.md, "Other Pythons and torch")."""

from packaging.requirements import Requirement
from packaging.version import Version

from conftest import PYPROJECT, ROOT


def _requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def _oldest() -> dict[str, Requirement]:
    lines = (ROOT / "tests" / "oldest-versions.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    assert len({pin.name for pin in pins}) == len(pins), "a requirement is pinned twice"
    return {pin.name: pin for pin in pins}


def test_each_requirement_is_a_pin_or_a_lower_bound():
    """A bound that the oldest-versions file can stand for: one clause, == or >=."""
    for req in _requirements():
        assert [spec.operator for spec in req.specifier] in (["=="], [">="]), str(req)


def test_the_oldest_versions_file_pins_each_requirement_at_its_bound():
    oldest = _oldest()
    for req in _requirements():
        pin = oldest.pop(req.name, None)
        assert pin is not None, f"{req.name} is not in tests/oldest-versions.txt"
        (bound,), (pinned,) = req.specifier, pin.specifier
        assert pinned.operator == "==" and Version(pinned.version) == Version(bound.version), (str(req), str(pin))
        assert pin.marker == req.marker, (str(req), str(pin))
    assert not oldest, f"tests/oldest-versions.txt pins what pyproject.toml does not ask for: {sorted(oldest)}"
