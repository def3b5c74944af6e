#!/usr/bin/env bash
# What moves goal 2 (issue 14): the national rule set against district red,
# and variants of it, on the same cities and seeds (docs/simulation.md,
# "What moves goal 2, measured"). Usage:
#   scripts/sensitivity.sh [OUT_DIR] [PERSONS] [DAYS] [SEEDS]
# Needs a release build (cargo build --release) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-sensitivity}
persons=${2:-2000}
days=${3:-60}
seeds=${4:-3}
bin=target/release/yimatong
mkdir -p "$out"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
national = json.load(open("crates/ymt-rules/rulesets/cn-national.json"))
profile = {"kind": "parameter-profile", "region": "440305", "ruleSet": "cn-national",
           "version": "1.0.0", "validFrom": national["validFrom"]}
profiles = {
    "no-secondary": {"tracingSecondaryLookbackDays": 0},
    "overlap-60": {"tracingCloseContactIndoorMinOverlapMinutes": 60,
                   "tracingCompanionMinOverlapMinutes": 60},
    "short-quarantine": {"closeContactQuarantineDays": 5, "closeContactMonitoringDays": 0,
                         "secondaryContactQuarantineDays": 0},
}
for name, parameters in profiles.items():
    document = dict(profile, id="sensitivity-" + name, parameters=parameters, reason=name)
    json.dump(document, open(f"{out}/{name}.json", "w"))
# Rule-set variants: the national set with one rule removed, as a newer version.
for name, rule in {"no-close-02": "CN-CLOSE-02", "no-companion": "CN-COMPANION-01"}.items():
    document = dict(national, version="1.1.0")
    document["rules"] = [r for r in national["rules"] if r["id"] != rule]
    json.dump(document, open(f"{out}/{name}.json", "w"), ensure_ascii=False)
PY
common=(simulate policy --persons "$persons" --days "$days" --seeds "$seeds" --jobs 1)
"$bin" "${common[@]}" --out "$out/charts-baseline" --policy national --policy district-red \
  > "$out/baseline.md"
for variant in no-secondary overlap-60 short-quarantine no-close-02 no-companion; do
  "$bin" "${common[@]}" --out "$out/charts-$variant" --policy candidate \
    --candidate "$out/$variant.json" > "$out/$variant.md"
done
"$bin" "${common[@]}" --out "$out/charts-venues-80" --policy national --policy district-red \
  --venues-per-thousand-persons 80 > "$out/venues-80.md"
echo "tables in $out/*.md"
