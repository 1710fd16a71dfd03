"""report.html of a session's timeline (live-recorded or replayed): the transcript with the agent's replies, and a
timeline plot (timeline.png, also embedded in the page so the one file is the whole report) of what each modality
read and the fused state, with the moments where words and face/voice disagreed (incongruent) marked in red.

Self-contained HTML (no scripts, no network), every piece of text escaped: a transcript can contain anything.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from basics.labels import LABELS

MODALITY_STYLE = {"face": (".", "tab:green"), "text": ("s", "tab:purple"), "voice": ("^", "tab:red")}
MAX_POINTS_PER_SERIES = 4000  # a 3-hour session has ~50k face readings; a plot 10 inches wide shows no more
INCONGRUENT_HALF_WIDTH_S = 0.3


def read_events(events: str | os.PathLike | Iterable[dict]) -> list[dict]:
    if isinstance(events, (str, os.PathLike)):
        from ui.timeline_file import load_events

        return load_events(events)[0]
    return list(events)


def timeline_png(events: list[dict], title: str = "") -> bytes:
    """Three panels on one time axis: valence, arousal, and the top label, each with every modality's readings
    (markers) and the fused state (black line); incongruent moments in red, replies as dotted lines, speech as
    blue bands."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 6.6), dpi=100)
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 1.3]})
    # in time order: a turn's state is stamped with the end of its speech but emitted once the words are read,
    # after the face states of the frames that came meanwhile
    states = _thin(sorted((e for e in events if e.get("kind") == "state"), key=lambda e: e["t_s"]))
    readings = {m: _thin([e for e in events if e.get("kind") == m and (e.get("confidence") or 0) > 0])
                for m in MODALITY_STYLE}
    label_y = {label: i for i, label in enumerate(LABELS)}
    for ax, key in ((axes[0], "valence"), (axes[1], "arousal")):
        for modality, points in readings.items():
            if points:
                marker, color = MODALITY_STYLE[modality]
                ax.scatter([e["t_s"] for e in points], [e.get(key, 0.0) for e in points], s=14, marker=marker,
                           color=color, alpha=0.65, label=modality, zorder=2)
        if states:
            ax.step([e["t_s"] for e in states], [e.get(key, 0.0) for e in states], where="post", color="black",
                    lw=1.3, label="fused", zorder=3)
        ax.set_ylim(-1.08, 1.08)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_ylabel(key)
    ax = axes[2]
    for modality, points in readings.items():
        points = [e for e in points if e.get("label") in label_y]
        if points:
            marker, color = MODALITY_STYLE[modality]
            offset = {"face": -0.18, "text": 0.0, "voice": 0.18}[modality]
            ax.scatter([e["t_s"] for e in points], [label_y[e["label"]] + offset for e in points], s=16,
                       marker=marker, color=color, alpha=0.7, label=modality, zorder=2)
    fused = [e for e in states if e.get("label") in label_y]
    if fused:
        ax.step([e["t_s"] for e in fused], [label_y[e["label"]] for e in fused], where="post", color="black",
                lw=1.3, label="fused", zorder=3)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_ylim(-0.6, len(LABELS) - 0.4)
    ax.set_ylabel("top label")
    ax.set_xlabel("session time (s)")
    incongruent = [e["t_s"] for e in events if e.get("kind") == "state" and e.get("incongruent")]
    speech = [(e.get("t_start_s", e["t_s"]), e.get("t_end_s", e["t_s"])) for e in events
              if e.get("kind") == "transcript"]
    replies = [e["t_s"] for e in events if e.get("kind") == "reply"]
    for axis in axes:
        for start, end in speech:
            axis.axvspan(start, end, color="tab:blue", alpha=0.07, lw=0)
        for t in _merge_spans(incongruent):
            axis.axvspan(t[0] - INCONGRUENT_HALF_WIDTH_S, t[1] + INCONGRUENT_HALF_WIDTH_S, color="red", alpha=0.18,
                         lw=0)
        for t in replies:
            axis.axvline(t, color="gray", lw=0.8, ls=":")
    if not events or not (states or any(readings.values())):
        axes[0].text(0.5, 0.5, "no readings in this session", ha="center", va="center", transform=axes[0].transAxes)
    handles, labels = axes[2].get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles += [Patch(color="red", alpha=0.3), Patch(color="tab:blue", alpha=0.15)]
    labels += ["incongruent", "speech"]
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], color="gray", ls=":"))
    labels.append("reply")
    fig.legend(handles, labels, loc="upper right", ncol=len(labels), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _thin(points: list[dict]) -> list[dict]:
    step = max(1, len(points) // MAX_POINTS_PER_SERIES)
    return points[::step]


def _merge_spans(times: list[float], gap_s: float = 1.0) -> list[tuple[float, float]]:
    spans: list[list[float]] = []
    for t in sorted(times):
        if spans and t - spans[-1][1] <= gap_s:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return [(a, b) for a, b in spans]


def because(appraisal: dict) -> str:
    """The appraisal's cause as one line for people: 'because: "..."', saying whose words and how far back when it
    is not the person's current message; "" when there is no cause."""
    cause = str(appraisal.get("cause") or "").strip()
    if not cause:
        return ""
    turn, speaker = int(appraisal.get("cause_turn") or 0), appraisal.get("cause_speaker") or "user"
    if turn == 0 and speaker == "user":
        return f'because: "{cause}"'
    whose = {"agent": "the agent's words", "other": "someone else's words"}.get(speaker, "the person's words")
    back = f", {-turn} turn{'s' if turn < -1 else ''} back" if turn < 0 else ""
    return f'because: "{cause}" ({whose}{back})'


def conversation(events: list[dict]) -> list[dict]:
    """The turns in order: what the person said (heard or typed) with how the words read and the fused state once
    they were in, and each reply with the appraisal it was built on."""
    rows: list[dict] = []

    def person() -> dict | None:
        return rows[-1] if rows and rows[-1]["who"].startswith("person") else None

    for e in events:
        kind = e.get("kind")
        if kind == "transcript":
            rows.append({"t_s": e["t_s"], "who": "person (spoken)", "text": e.get("text", ""), "words": "",
                         "fused": ""})
        elif kind == "text":
            words = f"words: {e.get('label')} {float(e.get('confidence') or 0):.2f}"
            if e.get("source") == "text" and e.get("text"):
                rows.append({"t_s": e["t_s"], "who": "person (typed)", "text": e["text"], "words": words,
                             "fused": ""})
            elif person() is not None:
                cast(dict, person())["words"] = words
        elif kind == "state" and person() is not None and abs(e["t_s"] - cast(dict, person())["t_s"]) < 1e-3:
            # the last state at the turn's time is the one with its words in
            cast(dict, person())["fused"] = (f"fused: {e.get('label')}"
                                             + (" (incongruent)" if e.get("incongruent") else ""))
            cast(dict, person())["incongruent"] = bool(e.get("incongruent"))
        elif kind == "reply":
            appraisal = e.get("appraisal") or {}
            rows.append({"t_s": e["t_s"], "who": "agent", "text": e.get("text", ""),
                         "words": f"appraisal: {appraisal.get('emotion', '?')}, need {appraisal.get('need', '?')}"
                                  + (f"; {because(appraisal)}" if because(appraisal) else ""),
                         "fused": f"route {e.get('route', '?')}"})
    for row in rows:
        row["reading"] = "; ".join(part for part in (row.pop("words"), row.pop("fused")) if part)
    return rows


def render_html(events: list[dict], png: bytes, title: str, summary: dict | None = None,
                diff: dict | None = None) -> str:
    esc = html.escape
    counts = {k: sum(1 for e in events if e.get("kind") == k) for k in ("face", "text", "voice", "state", "reply")}
    incongruent = sum(1 for e in events if e.get("kind") == "state" and e.get("incongruent"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 6px;"
             "vertical-align:top;text-align:left;font-size:14px}tr.agent td{background:#f4f7fb}"
             "tr.incongruent td{background:#fdeaea}.small{color:#666;font-size:13px}img{max-width:100%}</style>",
             f"</head><body><h2>{esc(title)}</h2>"]
    facts = [f"{counts['face']} face readings", f"{counts['voice']} voice readings",
             f"{counts['text']} readings of words", f"{counts['state']} fused states",
             f"{incongruent} incongruent", f"{counts['reply']} replies"]
    if summary:
        facts = [f"media {summary.get('media_s', 0):.1f} s",
                 f"replayed in {summary.get('wall_s', 0):.1f} s ({summary.get('x_real_time') or 0:.1f}x real time)",
                 "without " + (", ".join(summary.get("without") or []) or "nothing")] + facts
    parts.append(f"<p class='small'>{esc(' · '.join(facts))}</p>")
    parts.append("<h3>Timeline</h3><img alt='timeline of each modality and the fused state' "
                 f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    parts.append("<h3>Conversation</h3>")
    rows = conversation(events)
    if rows:
        parts.append("<table><tr><th>time (s)</th><th>who</th><th>words</th><th>reading</th></tr>")
        for row in rows:
            css = "agent" if row["who"] == "agent" else ("incongruent" if row.get("incongruent") else "")
            parts.append(f"<tr class='{css}'><td>{row['t_s']:.1f}</td><td>{esc(row['who'])}</td>"
                         f"<td>{esc(row['text'])}</td><td class='small'>{esc(row['reading'])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No turns: nothing was said or typed.</p>")
    if diff:
        from ui.timeline_file import diff_lines

        parts.append("<h3>Against the recorded timeline</h3><pre>" + esc("\n".join(diff_lines(diff))) + "</pre>")
    problems = (summary or {}).get("problems") or []
    if problems:
        parts.append("<h3>Problems</h3><ul>" + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(events: str | os.PathLike | Iterable[dict], out_dir: str | os.PathLike, title: str = "Session",
                 summary: dict | None = None, diff: dict | None = None) -> Path:
    """Write OUT/timeline.png and OUT/report.html; returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timeline = read_events(events)
    png = timeline_png(timeline, title)
    (out / "timeline.png").write_bytes(png)
    report = out / "report.html"
    partial = out / "report.html.partial"
    partial.write_text(render_html(timeline, png, title, summary, diff), encoding="utf-8")
    os.replace(partial, report)
    return report
