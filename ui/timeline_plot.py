"""The live timeline: valence over the session, the fused state as lines and each modality's readings as dots.

A stretch without readings is drawn as a gap, never as a straight line across it: the fused line breaks wherever
two states are more than GAP_S apart. What consent-off deleted (face readings, and the fused states made while the
face was in them, see LiveSession._purge) is simply not in the events any more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

GAP_S = 3.0  # states further apart than this are separate stretches (face frames come 5 a second, turns rarer)
FIGURE_SIZE_IN = (9.0, 2.6)
FIGURE_DPI = 100
MODALITY_STYLE: tuple[tuple[str, str, str, str], ...] = (  # kind, marker, colour, legend name
    ("face", ".", "tab:green", "face"), ("text", "s", "tab:purple", "words"), ("voice", "^", "tab:red", "voice"))


def with_gaps(times: Sequence[float], values: Sequence[float], gap_s: float = GAP_S) -> tuple[list[float],
                                                                                               list[float]]:
    """The points with a NaN between any two more than `gap_s` apart (matplotlib breaks a line at a NaN)."""
    out_t: list[float] = []
    out_v: list[float] = []
    for i, (t, v) in enumerate(zip(times, values)):
        if i and t - times[i - 1] > gap_s:
            out_t.append((t + times[i - 1]) / 2)
            out_v.append(math.nan)
        out_t.append(t)
        out_v.append(v)
    return out_t, out_v


def render_timeline(events: list[dict]) -> Any:
    """A matplotlib Figure (no pyplot: freed with its last reference, not kept in a global registry)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    ax = fig.add_subplot(1, 1, 1)
    # A spoken turn's state is dated at the end of its speech, after face states already drawn: sort by time.
    states = sorted((e for e in events if e["kind"] == "state"), key=lambda e: e["t_s"])
    if states:
        t = [e["t_s"] for e in states]
        for key, color in (("valence", "tab:blue"), ("arousal", "tab:orange")):
            line_t, line_v = with_gaps(t, [e[key] for e in states])
            ax.plot(line_t, line_v, "-o" if len(states) < 30 else "-", ms=3, lw=1.4, color=color,
                    label=f"{key} (overall)")
        for e in states:
            if e.get("incongruent"):
                ax.axvspan(e["t_s"] - 0.2, e["t_s"] + 0.2, color="red", alpha=0.12, lw=0)
    shown = bool(states)
    for kind, marker, color, name in MODALITY_STYLE:
        points = [e for e in events if e["kind"] == kind and e.get("confidence", 0) > 0]
        if points:
            shown = True
            ax.scatter([e["t_s"] for e in points], [e["valence"] for e in points], s=16, marker=marker, color=color,
                       alpha=0.6, label=f"valence ({name})")
    for e in events:
        if e["kind"] == "reply":
            ax.axvline(e["t_s"], color="gray", lw=0.6, ls=":")
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("valence / arousal", fontsize=9)
    ax.set_xlabel("session time (s)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.axhline(0, color="black", lw=0.4)
    if shown:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "the timeline fills in as you talk", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
