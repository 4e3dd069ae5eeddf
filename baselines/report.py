"""Summarise a reference-batt results file as the markdown table in docs/reference-results.md.

    python baselines/report.py baselines/reference-arcagi1-training.json.gz [more files...]

Per primitive family: how many pass@2-solved tasks it contributes, i.e. tasks whose
best-ranked solver that matched every test sample belongs to that family (a composition
``A+B`` counts for the family of its last step ``B``, which decides the output).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from pytest_batt import results

# Checked in order: the first family whose prefix starts the program name wins.
FAMILIES = [
    ("lookup tables (learnt cell/object rules)", ("cell_rule", "obj_recolor", "hole_recolor", "input_table", "cells_table")),
    ("logic on grid halves", ("logic_", "overlay")),
    ("symmetry / periodic repair", ("symmetry_repair", "periodic_repair", "fold_")),
    ("colour maps", ("colormap", "rankmap", "invert", "colors_by", "color_", "const_output")),
    ("filling and drawing", ("fill", "outline", "rays", "connect", "halo", "majority", "remove_", "count_cells")),
    ("gravity and shifts", ("gravity", "shift_")),
    ("self-similar tiling", ("tile_self_similar",)),
    ("scale, tile and mirror-tile", ("scale", "tile", "mirror", "rot_tile", "downscale", "part_")),
    ("crop and objects", ("crop", "keep", "cell_", "obj", "largest", "smallest", "compress", "common_shape")),
    ("halves and cells", ("left_half", "right_half", "top_half", "bottom_half", "cells_", "rows_", "cols_")),
    ("geometry (8 symmetries)", ("identity", "rot", "flip", "transpose", "antitranspose")),
]


def family(solver_id: str) -> str:
    step = solver_id.split("+")[-1]
    for name, prefixes in FAMILIES:
        if step.startswith(prefixes):
            return name
    return "other"


def winner(task: Dict[str, Any]) -> Optional[str]:
    """The solver a pass@2 submission owes the task to: matched every test, best demo score."""
    tests = [s for s in task["samples"] if s["kind"] == "test"]
    if not tests or not task["solved"]["at_2"]:
        return None
    common = set(tests[0]["matched"]).intersection(*(s["matched"] for s in tests[1:]))
    if not common:
        return None
    test_hits = {sid: sum(sid in s["matched"] for s in tests) for sid in common}
    return max(sorted(common), key=lambda sid: task["o_score"].get(sid, 0) - test_hits[sid])


def summary(results: Dict[str, Any]) -> Dict[str, Any]:
    tasks = results["tasks"]
    families: Dict[str, int] = {}
    for task in tasks.values():
        sid = winner(task)
        if sid is not None:
            families[family(sid)] = families.get(family(sid), 0) + 1
    at_2 = sum(t["solved"]["at_2"] for t in tasks.values())
    oracle = sum(t["solved"]["oracle"] for t in tasks.values())
    return {
        "data": results["data"]["name"], "tasks": len(tasks), "at_2": at_2, "oracle": oracle,
        "wall_s": results["session"]["wall_s"], "item_s": results["session"]["item_s"],
        "workers": results["config"]["workers"], "families": families,
    }


def main(paths: List[str]) -> None:
    sums = [summary(results.read(p)) for p in paths]
    print("| data | tasks | pass@2 | oracle | pass@2 / oracle | wall | batt time (summed) | workers |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sums:
        ratio = s["at_2"] / s["oracle"] if s["oracle"] else 0.0
        print(f"| {s['data']} | {s['tasks']} | {s['at_2']} | {s['oracle']} | {ratio:.2f} | {s['wall_s'] / 60:.1f} min | "
              f"{s['item_s'] / 60:.1f} min | {s['workers']} |")
    print()
    names = [n for n, _ in FAMILIES] + ["other"]
    print("| primitive family (of the winning program's last step) | " + " | ".join(s["data"] for s in sums) + " |")
    print("|---|" + "---|" * len(sums))
    for name in names:
        if any(s["families"].get(name) for s in sums):
            print(f"| {name} | " + " | ".join(str(s["families"].get(name, 0)) for s in sums) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
