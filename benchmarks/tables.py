"""The Markdown tables of the results, printed by ``python -m benchmarks`` and written into the book's page."""

from __future__ import annotations

from collections import defaultdict

FRAMEWORK_NAMES = {"torch": "torch", "keras": "Keras"}


def number(value) -> str:
    """A measured value with the digits that mean something; a dash when there is none."""
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _failures(rows: list[dict], label) -> str:
    """The failed measurements under a table, so a failure is reported, not hidden."""
    failed = [f"- {label(row)}: {row['status']}" for row in rows if row.get("status", "ok") != "ok"]
    return "\n\nFailed:\n\n" + "\n".join(failed) if failed else ""


def _by_framework(rows: list[dict], key) -> dict:
    grouped = defaultdict(dict)
    for row in rows:
        grouped[key(row)][row["framework"]] = row
    return grouped


def _frameworks(rows: list[dict]) -> list[str]:
    return [f for f in FRAMEWORK_NAMES if any(r["framework"] == f for r in rows)]


def _cell(row: dict | None, field: str) -> str:
    if row is None:
        return "–"
    return number(row.get(field)) if row.get("status", "ok") == "ok" else "failed"


def models(section: dict) -> str:
    rows, gpu = section["rows"], section.get("device") == "cuda"
    frameworks = _frameworks(rows)
    fields = [("images_per_second", "images/s"), ("peak_rss_mb", "peak RSS MiB")]
    fields += [("peak_gpu_mb", "peak GPU MiB")] if gpu else []
    header = ["model", "size", "input × batch", "width"]
    header += [f"{FRAMEWORK_NAMES[f]} {name}" for _, name in fields for f in frameworks]
    table = []
    for (model, size), pair in _by_framework(rows, lambda r: (r["model"], r["size"])).items():
        first = next(iter(pair.values()))
        cells = [f"`{model}`", size, f"{first['image_size']}² × {first['batch_size']}", str(first["width"])]
        cells += [_cell(pair.get(f), field) for field, _ in fields for f in frameworks]
        table.append(cells)
    precisions = sorted({f"{FRAMEWORK_NAMES[r['framework']]}: {r['precision']}" for r in rows if r.get("precision")})
    text = f"{markdown(header, table)}\n\nTimed: {section['note']}. Precision: {'; '.join(precisions)}."
    return text + _failures(rows, lambda r: f"{r['model']} ({r['framework']}, {r['size']})")


def overhead(section: dict) -> str:
    header = ["framework", "model", "input × batch", "images", "plain loop s/epoch", "fit s/epoch", "fit / plain",
              "same final weights"]
    table = []
    for row in section["rows"]:
        same = row.get("max_weight_difference")
        same = "–" if same is None else "yes, bit for bit" if same == 0 else f"largest difference {same:.1e}"
        table.append([FRAMEWORK_NAMES[row["framework"]], f"`{row['model']}` width {row['width']}",
                      f"{row['image_size']}² × {row['batch_size']}", str(row["images"]), _cell(row, "plain_s"),
                      _cell(row, "fit_s"), _ratio(row), same])
    first = section["rows"][0]
    text = markdown(header, table) + (f"\n\nSeconds per epoch in steady state: from the start of the second "
                                      f"training step to the end of a {first['epochs']}-epoch run, per step, times "
                                      f"the steps of an epoch; median of {first['repeats']} alternating runs of each.")
    return text + _failures(section["rows"], lambda r: FRAMEWORK_NAMES[r["framework"]])


def _ratio(row: dict) -> str:
    return f"{row['ratio']:.3f}" if row.get("ratio") is not None else _cell(row, "ratio")


def precision(section: dict) -> str:
    header = ["model", "framework", "input × batch", "variant", "mixed type", "s/step", "images/s",
              "speed-up over fp32"]
    table = [[f"`{r['model']}` width {r['width']}", FRAMEWORK_NAMES[r["framework"]],
              f"{r['image_size']}² × {r['batch_size']}", r["variant"], r.get("amp") or "–",
              _cell(r, "seconds_per_step"), _cell(r, "images_per_second"),
              f"{r['speedup']:.2f}×" if r.get("speedup") else _cell(r, "speedup")] for r in section["rows"]]
    return markdown(header, table) + _failures(section["rows"], lambda r: f"{r['model']} {r['variant']}")


def notebooks(section: dict) -> str:
    rows, gpu = section["rows"], section.get("device") == "cuda"
    frameworks = _frameworks(rows)
    fields = [("seconds", "s"), ("peak_rss_mb", "peak RSS MiB")] + ([("peak_gpu_mb", "peak GPU MiB")] if gpu else [])
    header = ["notebook"] + [f"{FRAMEWORK_NAMES[f]} {name}" for _, name in fields for f in frameworks]
    grouped = _by_framework(rows, lambda r: r["notebook"])
    table = [[f"`{name}`"] + [_cell(pair.get(f), field) for field, _ in fields for f in frameworks]
             for name, pair in grouped.items()]
    totals = [number(sum(r["seconds"] for r in rows if r["framework"] == f)) for f in frameworks]
    table.append(["**all notebooks**"] + [f"**{t}**" for t in totals] + ["" for _ in fields[1:] for _ in frameworks])
    text = markdown(header, table) + f"\n\nProfile: {section['profile']}."
    return text + _failures(rows, lambda r: f"{r['notebook']} ({FRAMEWORK_NAMES[r['framework']]})")


SECTIONS = {"models": models, "overhead": overhead, "precision": precision, "notebooks": notebooks}


def section(name: str, value: dict) -> str:
    """The section's table, or its status when it was skipped or not run."""
    if value["status"] != "measured" or not value["rows"]:
        return value["status"]
    return SECTIONS[name](value)
