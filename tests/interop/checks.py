"""Explicit checks for the interop scripts. `assert` statements are removed when Python runs with
`-O` or `PYTHONOPTIMIZE` set, which would turn every check into a pass; `require` always runs."""


class CheckFailed(Exception):
    """A check that did not hold."""


def require(condition, why):
    """Raises CheckFailed(why) unless `condition` holds."""
    if not condition:
        raise CheckFailed(str(why))
