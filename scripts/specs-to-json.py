#!/usr/bin/env python3
"""Writes a JSON copy beside each YAML spec under specs/, for the spec-driven payload
generator in tests/vendor_fidelity.rs (the Rust side reads JSON only). The JSON is the same
document; rerun this after replacing a YAML spec. Needs PyYAML (pip install pyyaml)."""
import json
import pathlib

import yaml

root = pathlib.Path(__file__).resolve().parent.parent / "specs"
for path in sorted(root.glob("*/*.yaml")):
    document = yaml.safe_load(path.read_text())
    target = path.with_suffix(".json")
    target.write_text(json.dumps(document, indent=1, sort_keys=False, default=str) + "\n")
    print(f"{path.relative_to(root)} -> {target.relative_to(root)}")
