"""How large a shock's return may be before it is taken for a typo.

A return is a fraction: -0.35 is a 35 % fall. A return of 35 is a rise of 3,500 %, and almost
always a -35 % written without its decimal point; a run of it "passes" a CI gate green. So a
return above :data:`EXTREME_RETURN` (+500 %) is refused unless the scenario says it is meant
(``settings.allow_extreme_shocks: true``, or ``--allow-extreme-shocks``); a short squeeze that
really multiplies a price by ten can still be modelled.
"""

from __future__ import annotations

#: Largest return taken as meant without ``allow_extreme_shocks`` (+500 %).
EXTREME_RETURN = 5.0


def extreme(value: float, allowed: bool) -> bool:
    """Whether ``value`` is a return to refuse."""
    return value > EXTREME_RETURN and not allowed


def extreme_message(value: float) -> tuple[str, str]:
    """The message and hint for an extreme return: what it means, and the likely intent."""
    meant = -value / 100
    return (
        f"a return of {value:g} is {value * 100:+,.0f}%: returns above +{EXTREME_RETURN:g} "
        f"(+{EXTREME_RETURN * 100:,.0f}%) are refused unless allowed",
        f"did you mean {meant:g} ({meant * 100:g}%)? returns are fractions (-0.35, or -35%); "
        f"if {value * 100:+,.0f}% is meant, set settings.allow_extreme_shocks: true "
        "(or pass --allow-extreme-shocks)",
    )
