"""The report of a rated pairwise run: DIR/report.json, DIR/report.html and two PNGs (`empathic evaluate --report`).

- Preference: A wins, B wins and ties over every judgement (one per rater and item, the latest); the win rate of A
  over B, ties left out, with a bootstrap 95% interval that resamples items (a rater's judgements of one item go
  together, so several raters on one item do not narrow the interval as if they were new items); and an exact
  two-sided sign test on items, each item counted for the side most of its raters preferred (items that come out
  even are left out, as the sign test does with ties).
- Likert: mean, sd and bootstrap 95% interval of empathy, relevance and safety per configuration, and a paired
  Wilcoxon signed-rank test of A against B on the same judgements.
- Agreement: Cohen's kappa between every two raters who rated the same items (at least two): on the preference
  (a/b/tie) and, quadratically weighted, on each Likert aspect.
- Beside them, the automatic measures of the same replies (evaluation.pairwise.automatic_measures).
"""

from __future__ import annotations

import base64
import datetime
import html
import itertools
import json
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.ablation_report import _figure_png  # one way to save a figure and hand back its bytes
from evaluation.pairwise import SIDES, RunData, automatic_measures, read_run
from evaluation.ratings import ASPECTS, Rating, read_ratings

REPORT_FORMAT = "empathic-pairwise-report/1"
PREFERENCE_PNG = "preference.png"
LIKERT_PNG = "likert.png"
BOOTSTRAP_RESAMPLES = 1000
MIN_SHARED_ITEMS_FOR_KAPPA = 2


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def preference(ratings: Sequence[Rating], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    from scipy.stats import binomtest

    counts = {"a": 0, "b": 0, "tie": 0}
    per_item: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # item -> [a wins, b wins, ties]
    for rating in ratings:
        counts[rating.winner] += 1
        per_item[rating.item][("a", "b", "tie").index(rating.winner)] += 1
    decisive = counts["a"] + counts["b"]
    result: dict[str, Any] = {"judgements": len(ratings), "items": len(per_item), "a_wins": counts["a"],
                              "b_wins": counts["b"],
              "ties": counts["tie"], "win_rate_a": _round(counts["a"] / decisive) if decisive else None,
              "win_rate_a_ci95": None,
              "a_share_ties_as_half": _round((counts["a"] + 0.5 * counts["tie"]) / len(ratings)) if ratings else None}
    if decisive:
        table = np.array(list(per_item.values()), dtype=float)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(table), size=(resamples, len(table)))
        wins_a, wins_b = table[picks, 0].sum(axis=1), table[picks, 1].sum(axis=1)
        keep = (wins_a + wins_b) > 0
        rates = wins_a[keep] / (wins_a[keep] + wins_b[keep])
        result["win_rate_a_ci95"] = [_round(float(np.percentile(rates, 2.5))),
                                     _round(float(np.percentile(rates, 97.5)))]
    margins = [item[0] - item[1] for item in per_item.values()]
    items_a, items_b = sum(m > 0 for m in margins), sum(m < 0 for m in margins)
    result["sign_test"] = {"items_a": items_a, "items_b": items_b, "items_even": len(margins) - items_a - items_b,
                           "p_value": _round(binomtest(items_a, items_a + items_b, 0.5).pvalue, 4)
                           if items_a + items_b else None}
    return result


def _bootstrap_mean_ci(values: np.ndarray, seed: int, resamples: int) -> list[float | None]:
    if len(values) < 2:
        return [None, None]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    return [_round(float(np.percentile(means, 2.5))), _round(float(np.percentile(means, 97.5)))]


def likert(ratings: Sequence[Rating], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    from scipy.stats import wilcoxon

    out: dict[str, dict] = {}
    for aspect in ASPECTS:
        row: dict[str, object] = {}
        paired = {side: np.array([r.scores[side][aspect] for r in ratings], dtype=float) for side in SIDES}
        for side in SIDES:
            values = paired[side]
            row[side] = {"n": len(values), "mean": _round(values.mean()) if len(values) else None,
                         "sd": _round(values.std(ddof=1)) if len(values) > 1 else None,
                         "ci95": _bootstrap_mean_ci(values, seed, resamples)}
        differences = paired["a"] - paired["b"]
        p_value = None
        if np.any(differences != 0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # small samples: scipy warns that the normal approximation is rough
                p_value = _round(float(wilcoxon(paired["a"], paired["b"]).pvalue), 4)
        row["wilcoxon_p"] = p_value
        out[aspect] = row
    return out


def _kappa(first: list, second: list, weights: str | None = None, labels: list | None = None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")  # one label only on both sides: kappa is undefined (nan), said as None
        return _round(float(cohen_kappa_score(first, second, weights=weights, labels=labels)))


def agreement(ratings: Sequence[Rating]) -> dict:
    by_rater: dict[str, dict[str, Rating]] = defaultdict(dict)
    for rating in ratings:
        by_rater[rating.rater][rating.item] = rating
    pairs = []
    for first, second in itertools.combinations(sorted(by_rater), 2):
        shared = sorted(set(by_rater[first]) & set(by_rater[second]))
        if len(shared) < MIN_SHARED_ITEMS_FOR_KAPPA:
            continue
        one, two = [by_rater[first][i] for i in shared], [by_rater[second][i] for i in shared]
        pair: dict[str, Any] = {"raters": [first, second], "items": len(shared),
                "preference_agreement": _round(sum(x.winner == y.winner for x, y in zip(one, two)) / len(shared)),
                "kappa_preference": _kappa([x.winner for x in one], [y.winner for y in two],
                                           labels=["a", "b", "tie"]),
                "kappa_likert_quadratic": {}}
        for aspect in ASPECTS:
            left = [x.scores[s][aspect] for x in one for s in SIDES]
            right = [y.scores[s][aspect] for y in two for s in SIDES]
            pair["kappa_likert_quadratic"][aspect] = _kappa(left, right, weights="quadratic",
                                                            labels=[1, 2, 3, 4, 5])
        pairs.append(pair)
    return {"pairs": pairs, "note": f"Cohen's kappa for every two raters with at least {MIN_SHARED_ITEMS_FOR_KAPPA} "
            "items in common; null where it is undefined (both raters used one label only)."}


def build_report(run_dir: str | os.PathLike, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Every figure of the rated run, as a JSON-ready dict. ValueError (one line) when the folder is not a run."""
    run: RunData = read_run(run_dir)
    ratings, rating_warnings = read_ratings(run.folder, [row["id"] for row in run.rows])
    raters: dict[str, int] = defaultdict(int)
    per_rater: dict[str, dict[str, int]] = defaultdict(lambda: {"a": 0, "b": 0, "tie": 0})
    for rating in ratings:
        raters[rating.rater] += 1
        per_rater[rating.rater][rating.winner] += 1
    return {
        "format": REPORT_FORMAT,
        "run": str(run.folder.resolve()),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "a": run.label("a"),
        "b": run.label("b"),
        "command": run.meta.get("command"),
        "manifest": run.meta.get("manifest"),
        "contexts": len(run.rows),
        "raters": dict(sorted(raters.items())),
        "per_rater": dict(sorted(per_rater.items())),
        "warnings": run.warnings + rating_warnings,
        "bootstrap": {"resamples": resamples, "seed": seed},
        "preference": preference(ratings, seed, resamples),
        "likert": likert(ratings, seed, resamples),
        "agreement": agreement(ratings),
        "automatic": {**automatic_measures(run.rows), "note": (
            "Over every context of the run (rated or not). emotional_reaction, interpretation, exploration, "
            "relevant, off_topic_question, invented: shares of replies, as evaluation/reply_scores.py defines them "
            "(EPITOME-style; its agreement with one reader's labels is in the README); valence_consistency: no "
            "condolence to good news and no cheer to distress, judged against the manifest's label where there is "
            "one; open_question_share: replies that ask an open question; routes: generated, fallback (template), "
            "crisis, unchecked (critic off), human.")},
    }


# --- plots and HTML -----------------------------------------------------------------------------------------------

def preference_figure(report: dict, path: Path) -> bytes | None:
    """Left: the share of A wins, ties and B wins, overall and per rater. Right: A's win rate with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = report["preference"]
    if not p["judgements"]:
        return None
    rows = [("all raters", p["a_wins"], p["ties"], p["b_wins"])]
    for rater, counts in (report["per_rater"].items() if len(report["per_rater"]) > 1 else ()):
        rows.append((rater, counts["a"], counts["tie"], counts["b"]))
    fig, (ax, ax_rate) = plt.subplots(1, 2, figsize=(10, 1.8 + 0.45 * len(rows)),
                                      gridspec_kw={"width_ratios": [3, 1.3]})
    names = [r[0] for r in rows][::-1]
    totals = np.array([sum(r[1:]) for r in rows][::-1], dtype=float)
    start = np.zeros(len(rows))
    for index, (what, colour) in enumerate(((f"A wins ({report['a']})", "#4C72B0"), ("tie", "#BBBBBB"),
                                            (f"B wins ({report['b']})", "#DD8452"))):
        share = np.array([r[1 + index] for r in rows][::-1], dtype=float) / totals
        ax.barh(names, share, left=start, color=colour, label=what)
        for y, (s, x0) in enumerate(zip(share, start)):
            if s >= 0.08:
                ax.text(x0 + s / 2, y, f"{s:.0%}", ha="center", va="center", fontsize=8, color="white")
        start += share
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of judgements")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    rate, ci = p["win_rate_a"], p["win_rate_a_ci95"]
    ax_rate.axvline(0.5, color="#999999", linestyle="--", linewidth=1)
    if rate is not None:
        low, high = ci if ci else (rate, rate)
        ax_rate.errorbar([rate], [0], xerr=[[rate - low], [high - rate]], fmt="o", color="#4C72B0", capsize=6)
        ax_rate.text(rate, 0.25, f"{rate:.2f} [{low:.2f}, {high:.2f}]", ha="center", fontsize=8)
    sign = p["sign_test"]["p_value"]
    ax_rate.set_title("win rate of A, ties out\n(95% bootstrap)" + (f", sign test p = {sign:.3g}" if sign else ""),
                      fontsize=8)
    ax_rate.set_xlim(0, 1)
    ax_rate.set_ylim(-0.6, 0.6)
    ax_rate.set_yticks([])
    ax_rate.spines[["top", "right", "left"]].set_visible(False)
    fig.suptitle(f"A = {report['a']}  vs  B = {report['b']}: {p['judgements']} judgements of {p['items']} items",
                 fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def likert_figure(report: dict, path: Path) -> bytes | None:
    """Mean rating per aspect and configuration (1-5) with bootstrap 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report["preference"]["judgements"]:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = np.arange(len(ASPECTS))
    for offset, side, colour in ((-0.18, "a", "#4C72B0"), (0.18, "b", "#DD8452")):
        means = np.array([report["likert"][a][side]["mean"] for a in ASPECTS], dtype=float)
        cis = [report["likert"][a][side]["ci95"] for a in ASPECTS]
        low = np.array([c[0] if c[0] is not None else m for c, m in zip(cis, means)])
        high = np.array([c[1] if c[1] is not None else m for c, m in zip(cis, means)])
        ax.bar(x + offset, means, width=0.36, color=colour, label=f"{side.upper()}: {report[side]}",
               yerr=[means - low, high - means], capsize=4, ecolor="#333333")
        for xi, m, top in zip(x + offset, means, high):
            ax.text(xi, top + 0.05, f"{m:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, ASPECTS)
    ax.set_ylim(1, 5.6)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_ylabel("mean rating (1-5, 95% bootstrap)")
    ax.legend(fontsize=8, frameon=False, loc="upper center", ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"Likert ratings, n = {report['preference']['judgements']} judgements", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def _cell(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:.0%}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
    return html.escape(str(value))


def render_html(report: dict, images: Mapping[str, bytes | None]) -> str:
    esc = html.escape
    p = report["preference"]
    ci = p["win_rate_a_ci95"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Rating report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}.note{color:#555;font-size:13px}</style></head><body>",
        f"<h1>Blind pairwise rating: A = {esc(report['a'])} vs B = {esc(report['b'])}</h1>",
        f"<p class='note'>{report['contexts']} contexts; raters: "
        f"{esc(', '.join(f'{k} ({v})' for k, v in report['raters'].items()) or 'none yet')}; {esc(report['date_utc'])}"
        f"<br>Run: <code>{esc(report['run'])}</code><br>Command: <code>{esc(report.get('command') or '')}</code></p>",
        "<h2>Preference</h2><table><tr><th>judgements</th><th>items</th><th>A wins</th><th>ties</th><th>B wins</th>"
        "<th>win rate of A (ties out) [95% CI]</th><th>sign test on items (A/B/even), p</th></tr>",
        f"<tr><td>{p['judgements']}</td><td>{p['items']}</td><td>{p['a_wins']}</td><td>{p['ties']}</td>"
        f"<td>{p['b_wins']}</td><td>{_cell(p['win_rate_a'])}"
        + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + "</td>"
        f"<td>{p['sign_test']['items_a']}/{p['sign_test']['items_b']}/{p['sign_test']['items_even']}, "
        f"p = {_cell(p['sign_test']['p_value'])}</td></tr></table>",
    ]
    for key, title in ((PREFERENCE_PNG, "Preference"), (LIKERT_PNG, "Likert ratings")):
        image = images.get(key)
        if image:
            data = base64.b64encode(image).decode("ascii")
            parts.append(f"<img alt='{esc(title)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Likert (1-5)</h2><table><tr><th>aspect</th><th>A mean [95% CI] (sd)</th>"
                 "<th>B mean [95% CI] (sd)</th><th>n</th><th>Wilcoxon p (A vs B)</th></tr>")
    for aspect in ASPECTS:
        row = report["likert"][aspect]
        cells = []
        for side in SIDES:
            m = row[side]
            interval = f" [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]" if m["ci95"][0] is not None else ""
            cells.append(f"<td>{_cell(m['mean'])}{interval} ({_cell(m['sd'])})</td>")
        parts.append(f"<tr><td>{aspect}</td>{''.join(cells)}<td>{row['a']['n']}</td>"
                     f"<td>{_cell(row['wilcoxon_p'])}</td></tr>")
    parts.append("</table><h2>Agreement between raters (Cohen's kappa)</h2>")
    if report["agreement"]["pairs"]:
        parts.append("<table><tr><th>raters</th><th>items</th><th>same preference</th><th>kappa, preference</th>"
                     + "".join(f"<th>weighted kappa, {a}</th>" for a in ASPECTS) + "</tr>")
        for pair in report["agreement"]["pairs"]:
            parts.append(f"<tr><td>{esc(' & '.join(pair['raters']))}</td><td>{pair['items']}</td>"
                         f"<td>{_cell(pair['preference_agreement'])}</td><td>{_cell(pair['kappa_preference'])}</td>"
                         + "".join(f"<td>{_cell(pair['kappa_likert_quadratic'][a])}</td>" for a in ASPECTS)
                         + "</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No two raters have rated the same items yet.</p>")
    parts.append(f"<p class='note'>{esc(report['agreement']['note'])}</p>")
    auto = report["automatic"]
    keys = [k for k in auto["a"] if k != "n"] if auto["a"].get("n") else []
    parts.append("<h2>Automatic measures of the same replies</h2><table><tr><th>measure</th>"
                 f"<th>A: {esc(report['a'])}</th><th>B: {esc(report['b'])}</th></tr>")
    for key in ["n", *keys]:
        parts.append(f"<tr><td>{esc(key)}</td><td>{_cell(auto['a'].get(key))}</td>"
                     f"<td>{_cell(auto['b'].get(key))}</td></tr>")
    parts.append(f"</table><p class='note'>{esc(auto['note'])}</p>")
    if report["warnings"]:
        parts.append("<h2>Lines skipped</h2><pre>" + esc("\n".join(report["warnings"])) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | os.PathLike, seed: int = 0) -> tuple[dict, dict[str, Path]]:
    """Build the report and write report.json, the PNGs and report.html into the run folder."""
    report = build_report(run_dir, seed=seed)
    out = Path(run_dir)
    paths = {"json": out / "report.json", "html": out / "report.html"}
    images = {PREFERENCE_PNG: preference_figure(report, out / PREFERENCE_PNG),
              LIKERT_PNG: likert_figure(report, out / LIKERT_PNG)}
    for name, data in images.items():
        if data:
            paths[name] = out / name
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                             encoding="utf-8")
    paths["html"].write_text(render_html(report, images), encoding="utf-8")
    return report, paths


def summary_lines(report: dict) -> list[str]:
    """The report in a few lines, for the terminal and the tab."""
    p = report["preference"]
    if not p["judgements"]:
        return [f"A = {report['a']} vs B = {report['b']}: {report['contexts']} contexts, no ratings yet"]
    ci = p["win_rate_a_ci95"]
    lines = [f"A = {report['a']} vs B = {report['b']}: {p['judgements']} judgements of {p['items']} items by "
             f"{len(report['raters'])} rater(s)",
             f"A wins {p['a_wins']}, B wins {p['b_wins']}, ties {p['ties']}; win rate of A (ties out) "
             f"{_cell(p['win_rate_a'])}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
             + f"; sign test p = {_cell(p['sign_test']['p_value'])}"]
    lines.append("Likert A/B: " + "; ".join(
        f"{a} {_cell(report['likert'][a]['a']['mean'])}/{_cell(report['likert'][a]['b']['mean'])}" for a in ASPECTS))
    for pair in report["agreement"]["pairs"]:
        lines.append(f"kappa {pair['raters'][0]} & {pair['raters'][1]} ({pair['items']} items): preference "
                     f"{_cell(pair['kappa_preference'])}")
    return lines
