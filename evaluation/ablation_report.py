"""The ablation's report: DIR/report.json (every figure), DIR/report.html (tables, confusion matrices, and a bar
chart of the conditions' macro-F1 with 95% intervals; the PNGs are written next to it and embedded in it, so the
HTML file alone is the whole report)."""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np

from basics.labels import LABELS
from evaluation.ablation import AblationRun, models_in_use, read_predictions
from evaluation.ablation_stats import ConditionData, ablation_metrics

REPORT_FORMAT = "empathic-ablation-report/1"
BAR_CHART_PNG = "conditions_macro_f1.png"
CONFUSION_PNG = "confusion_matrices.png"


def condition_data(predictions_path: Path, conditions: tuple[str, ...]) -> dict[str, ConditionData]:
    """The labelled predictions of each condition, read back from predictions.jsonl in manifest order (the
    bootstrap draws by position, and engines may write samples in the order they finish)."""
    rows = sorted(((row["line"], row["id"], row["condition"], row["valence"], row["valence_gold"], row["arousal"],
                    row["arousal_gold"], bool(row["evidence"]), row["label"], row["predicted"])
                   for row in read_predictions(predictions_path) if row["condition"] in conditions),
                  key=lambda r: (r[0], r[1]))
    data = {c: ConditionData([], [], [], [], [], [], []) for c in conditions}
    for _, _, condition, valence, valence_gold, arousal, arousal_gold, evidence, label, predicted in rows:
        target = data[condition]
        target.valence_pred.append(valence)
        target.valence_gold.append(valence_gold)
        target.arousal_pred.append(arousal)
        target.arousal_gold.append(arousal_gold)
        target.evidence.append(evidence)
        if label is not None:
            target.gold.append(label)
            target.predicted.append(predicted)
    return data


def build_report(run: AblationRun, seed: int = 0, command: str = "", responses: Mapping | None = None) -> dict:
    metrics = ablation_metrics(condition_data(run.predictions_path, run.conditions), seed=seed)
    no_condition: dict = {}
    labelled = next(iter(metrics["conditions"].values()), no_condition).get("n", 0)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report = {
        "format": REPORT_FORMAT,
        "command": command,
        "manifest": run.manifest,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {cpus} cores, Python {platform.python_version()}",
        "conditions": list(run.conditions),
        "samples": run.samples,
        "labelled": labelled,
        "skipped": {"total": run.skipped.total, "by_reason": run.skipped.counts,
                    "examples": list(run.skipped.examples)},
        "missing_modalities": run.missing,
        "text_sources": run.text_sources,
        "timing": {"wall_s": run.wall_s, "perception_s": run.perception_s, "cue_cache_hits": run.cache_hits,
                   "engine": run.engine, "resumed_samples": run.resumed_samples},
        "models_sha256_12": models_in_use(),
        **metrics,
    }
    if responses is not None:
        report["responses"] = dict(responses)
    return report


def _figure_png(fig, path: Path) -> bytes:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.read_bytes()


def bar_chart(report: dict, path: Path) -> bytes | None:
    """Macro-F1 of each condition with its bootstrap 95% interval, chance level marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, m) for name, m in report["conditions"].items() if "macro_f1" in m]
    if not rows:
        return None
    names = [name for name, _ in rows]
    values = np.array([m["macro_f1"] for _, m in rows])
    low = np.array([m.get("ci95", {}).get("macro_f1", [v, v])[0] for (_, m), v in zip(rows, values)])
    high = np.array([m.get("ci95", {}).get("macro_f1", [v, v])[1] for (_, m), v in zip(rows, values)])
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.8))
    colours = ["#4C72B0" if "+" not in n and n != "all" else "#DD8452" for n in names]
    ax.bar(names, values, color=colours, yerr=[values - low, high - values], capsize=5, ecolor="#333333")
    for x, (v, top) in enumerate(zip(values, high)):  # above the interval's cap, not on it
        ax.text(x, top + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=9)
    classes = report.get("classes") or []
    if classes:
        ax.axhline(1 / len(classes), color="#999999", linestyle="--", linewidth=1)
        ax.text(-0.45, 1 / len(classes) + 0.005, f"1/classes = {1 / len(classes):.2f}", ha="left", va="bottom",
                fontsize=8, color="#666666")
    ax.set_ylim(0, min(1.0, max(0.2, float(high.max()) + 0.12)))
    ax.set_ylabel("macro-F1 (95% bootstrap interval)")
    ax.set_title(f"{Path(report['manifest']).stem}: n = {report['labelled']} labelled samples", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _figure_png(fig, path)


def confusion_figure(report: dict, path: Path) -> bytes | None:
    """One confusion matrix per condition, rows normalised to recall, counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, m) for name, m in report["conditions"].items() if "confusion_matrix" in m]
    if not rows:
        return None
    classes = report.get("classes") or list(LABELS)
    keep = [LABELS.index(c) for c in classes]
    columns = min(3, len(rows))
    lines = (len(rows) + columns - 1) // columns
    fig, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 3.4 * lines), squeeze=False)
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    for ax, (name, m) in zip(axes.ravel(), rows):
        counts = np.array(m["confusion_matrix"]["rows_gold_columns_predicted"])[keep][:, :]
        shown = counts.sum(axis=1, keepdims=True)
        recall = np.divide(counts, shown, out=np.zeros(counts.shape), where=shown > 0)
        ax.imshow(recall, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if recall[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(LABELS)), [label[:4] for label in LABELS], fontsize=7, rotation=45)
        ax.set_yticks(range(len(classes)), [label[:4] for label in classes], fontsize=7)
        ax.set_title(f"{name}: macro-F1 {m['macro_f1']:.2f}", fontsize=9)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    fig.tight_layout()
    return _figure_png(fig, path)


def _fmt(value, digits: int = 3) -> str:
    return "" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value)))


def _with_ci(m: dict, key: str) -> str:
    if key not in m:
        return "n/a"
    ci = m.get("ci95", {}).get(key)
    return f"{m[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _mae_cell(m: dict, name: str) -> str:
    if f"{name}_mae" not in m:
        return ""
    return f"{m[f'{name}_mae']:.3f} (always 0: {m[f'{name}_mae_predicting_0']:.3f}; n = {m[f'{name}_n']})"


def render_html(report: dict, images: Mapping[str, bytes | None]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Ablation report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}.note{color:#555;font-size:13px}</style></head><body>",
        f"<h1>Ablation: {esc(Path(report['manifest']).name)}</h1>",
        f"<p class='note'>{report['samples']} samples run ({report['labelled']} labelled), "
        f"{report['skipped']['total']} lines skipped; {esc(report['date_utc'])}; {esc(report['machine'])}; "
        f"wall {report['timing']['wall_s']} s.<br>Command: <code>{esc(report.get('command') or '')}</code></p>",
        "<h2>Conditions</h2><table><tr><th>condition</th><th>n</th><th>coverage</th><th>accuracy [95% CI]</th>"
        "<th>macro-F1 [95% CI]</th><th>weighted F1 [95% CI]</th><th>valence MAE</th><th>arousal MAE</th></tr>",
    ]
    for name, m in report["conditions"].items():
        parts.append(f"<tr><td>{esc(name)}</td><td>{m['n']}</td><td>{m['coverage']:.2f}</td>"
                     f"<td>{_with_ci(m, 'accuracy')}</td><td>{_with_ci(m, 'macro_f1')}</td>"
                     f"<td>{_with_ci(m, 'weighted_f1')}</td><td>{_mae_cell(m, 'valence')}</td>"
                     f"<td>{_mae_cell(m, 'arousal')}</td></tr>")
    parts.append("</table><p class='note'>Coverage: the share of samples where at least one of the condition's "
                 "modalities gave a usable cue (without one, fusion says neutral at confidence 0, and that counts "
                 f"as its prediction). Macro-F1 averages over the classes present: {esc(', '.join(report['classes']))}."
                 "</p>")
    for key, title in ((BAR_CHART_PNG, "Macro-F1 by condition"), (CONFUSION_PNG, "Confusion matrices")):
        if images.get(key):
            data = base64.b64encode(cast(bytes, images[key])).decode("ascii")
            parts.append(f"<h2>{title}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'>")
    if report["pairs"]:
        parts.append("<h2>Paired tests (exact McNemar on the same samples)</h2><table><tr><th>A</th><th>B</th>"
                     "<th>only A right</th><th>only B right</th><th>p</th><th>p (Holm)</th></tr>")
        for p in report["pairs"]:
            parts.append(f"<tr><td>{esc(p['a'])}</td><td>{esc(p['b'])}</td><td>{p['only_a_correct']}</td>"
                         f"<td>{p['only_b_correct']}</td><td>{p['p_value']:.4g}</td><td>{p['p_holm']:.4g}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Per class (F1)</h2><table><tr><th>condition</th>" +
                 "".join(f"<th>{esc(c)}</th>" for c in report["classes"]) + "</tr>")
    for name, m in report["conditions"].items():
        if "per_class" in m:
            parts.append(f"<tr><td>{esc(name)}</td>" + "".join(
                f"<td>{m['per_class'][c]['f1']:.2f}</td>" for c in report["classes"]) + "</tr>")
    parts.append("</table>")
    if "responses" in report:
        rows = report["responses"].get("conditions", {})
        keys = sorted({k for r in rows.values() for k in r})
        parts.append("<h2>Replies</h2><table><tr><th>condition</th>" +
                     "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr>")
        for name, r in rows.items():
            parts.append(f"<tr><td>{esc(name)}</td>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys) + "</tr>")
        parts.append("</table>")
        if report["responses"].get("note"):
            parts.append(f"<p class='note'>{esc(report['responses']['note'])}</p>")
    parts.append("<h2>Skipped lines and missing modalities</h2><pre>" + esc(json.dumps(
        {"skipped": report["skipped"], "missing_modalities": report["missing_modalities"],
         "text_sources": report["text_sources"]}, indent=1, ensure_ascii=False)) + "</pre></body></html>")
    return "\n".join(parts)


def write_report(report: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """report.json, the two PNGs and report.html in out_dir; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
                             encoding="utf-8")
    images = {BAR_CHART_PNG: bar_chart(report, out / BAR_CHART_PNG),
              CONFUSION_PNG: confusion_figure(report, out / CONFUSION_PNG)}
    for name, data in images.items():
        if data:
            paths[name] = out / name
    paths["html"].write_text(render_html(report, images), encoding="utf-8")
    return paths


def markdown_table(report_dirs: list[Path]) -> str:
    """Conditions x data sets, macro-F1 with its 95% interval, from the report.json of each run: the README table.
    A condition a run did not include is left blank."""
    reports = [(Path(d).name, json.loads((Path(d) / "report.json").read_text(encoding="utf-8"))) for d in report_dirs]
    conditions: list[str] = []
    for _, report in reports:
        conditions += [c for c in report["conditions"] if c not in conditions]
    lines = ["| data set (n labelled) | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    for name, report in reports:
        cells = []
        for condition in conditions:
            m = report["conditions"].get(condition)
            if m is None or "macro_f1" not in m:
                cells.append("")
                continue
            ci = m.get("ci95", {}).get("macro_f1")
            cells.append(f"{m['macro_f1']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
        lines.append(f"| {name} ({report['labelled']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        print("usage: python -m evaluation.ablation_report REPORT_DIR [REPORT_DIR ...]  (prints the Markdown table)",
              file=sys.stderr)
        sys.exit(2)
    print(markdown_table([Path(a) for a in sys.argv[1:]]))
