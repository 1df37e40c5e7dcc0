"""`clue report`: the self-contained HTML page, its label placement, and the page in a real browser."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clue.cli import main
from clue.report.html import Box, build_report, level_plot, place_labels
from clue.report.paper import load_paper
from clue.report.runs import load_run
from clue.runner import EvalOptions, evaluate


ALIAS = "baseline=Meta-Llama-3-8B-Instruct"


# ------------------------------------------------------------------ label placement

def _disjoint(boxes: list[Box]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].intersects(boxes[j])]


@pytest.mark.parametrize("seed", range(6))
def test_labels_never_overlap_each_other_or_a_marker(seed):
    rng = random.Random(seed)
    bounds = Box(0, 0, 600, 400)
    # a dense cluster (as the 8B Llama-3 models are) plus scattered points, some on the border
    points = [(300 + rng.gauss(0, 25), 200 + rng.gauss(0, 20)) for _ in range(18)]
    points += [(rng.uniform(0, 600), rng.uniform(0, 400)) for _ in range(12)] + [(0, 0), (600, 400)]
    widths = [rng.choice([40, 90, 140]) for _ in points]
    boxes = place_labels(points, widths, bounds)
    assert len(boxes) == len(points)
    assert _disjoint(boxes) == []
    markers = [Box(x - 5, y - 5, 10, 10) for x, y in points]
    assert not any(b.intersects(m) for b in boxes for m in markers)
    assert [b.w for b in boxes] == widths
    assert place_labels(points, widths, bounds) == boxes          # deterministic
    inside = sum(b.inside(bounds) for b in boxes)
    assert inside >= len(points) - 8   # the overflow column is for the few that cannot fit


def test_all_points_in_one_spot_go_to_the_overflow_column():
    boxes = place_labels([(50.0, 50.0)] * 40, [80.0] * 40, Box(0, 0, 100, 100))
    assert _disjoint(boxes) == [] and any(b.x >= 100 for b in boxes)


def test_published_points_all_labelled_without_overlap():
    paper = load_paper()
    plot = level_plot([], paper, show_paper=True)
    plotted = [p.model for p in paper if p.derived()["level1"] is not None and p.derived()["level2"] is not None]
    assert sorted(plot.labels) == sorted(plotted) and len(plotted) >= 15
    assert _disjoint(plot.boxes) == []
    for label in plot.labels:
        assert f">{label}</text>" in plot.svg
    assert set(plot.left_out) == {p.model for p in paper} - set(plotted) and plot.left_out
    assert plot.svg.count("<text class=\"label\"") == len(plotted)


# ------------------------------------------------------------------ the page

@pytest.fixture(scope="module")
def runs(workspace, tmp_path_factory):  # noqa: F811
    """Two baseline runs on the synthetic sets, every metric filled (the demo's tiny BERT and UMLS KB):
    one under the stand-in ``paper`` protocol, one made as ``clue demo`` makes its run."""
    from clue.demo.run import demo_metric_resources

    results = tmp_path_factory.mktemp("report-results")
    assets = tmp_path_factory.mktemp("report-assets")
    resources = demo_metric_resources(assets)      # built once; the demo run records the folder for re-scoring
    out = {}
    for protocol in ("paper", "demo"):
        options = EvalOptions(model="baseline", protocol=protocol, protocol_dir=str(workspace["protocol"]),
                              data_dir=str(workspace["data"]), results_dir=str(results), run=f"r-{protocol}",
                              limit=3, progress=False, demo_metrics=str(assets) if protocol == "demo" else None)
        out[protocol] = evaluate(options, resources=resources).run_dir
    # a protocol source recorded as a URL must show as text, never as a link
    manifest_path = out["paper"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["protocol"]["source"] = "https://github.com/TIO-IKIM/CLUE"
    manifest_path.write_text(json.dumps(manifest))
    return out


class _Page(HTMLParser):
    """Tags, attributes, section texts and table cells of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.sections: dict[str, list[str]] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._section = None
        self._table = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, k, v or "") for k, v in attrs]
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id")
            self.sections[self._section] = []
        if tag == "table" and (attrs.get("id") or "").startswith("table-"):
            self._table = attrs["id"][6:]
            self.tables.setdefault(self._table, [])
        if tag == "tr" and self._table:
            self.tables[self._table].append([])
        if tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "table":
            self._table = None
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        self.text.append(data)
        if self._section:
            self.sections[self._section].append(data)
        if self._cell is not None:
            self._cell.append(data + " ")


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def _self_contained(parsed: _Page, page: str) -> None:
    assert not {"script", "link", "img", "iframe", "object", "embed", "base"} & set(parsed.tags)
    for tag, name, value in parsed.attributes:
        assert "://" not in value and "url(" not in value, (tag, name, value)
        assert not name.startswith("on"), (tag, name)
    assert "url(" not in page and "@import" not in page


def test_report_of_a_run_beside_the_paper(runs, tmp_path):
    out = tmp_path / "report.html"
    main(["report", str(runs["paper"]), "--compare", "paper", "--alias", ALIAS, "--out", str(out), "--resamples", "200",
          "--no-rescore"])   # its metric assets were handed to the run, not recorded: arithmetic only
    page = out.read_text(encoding="utf-8")
    parsed = _parse(page)
    _self_contained(parsed, page)
    assert "https://github.com/TIO-IKIM/CLUE" in "".join(parsed.sections["provenance"])   # as plain text
    assert "DEMO" not in page
    assert list(parsed.sections) == ["summary", "tasks", "plot", "pairs", "provenance", "deviations", "verify"]

    [row] = load_run(runs["paper"])
    derived = row.derived()
    paper = next(p for p in load_paper() if p.model == "Meta-Llama-3-8B-Instruct").derived()
    summary = parsed.tables["summary"]
    header = summary[0]
    mine = next(r for r in summary if r[0] == "baseline")
    published = summary[summary.index(mine) + 1]
    delta = summary[summary.index(mine) + 2]
    assert published[:2] == ["Meta-Llama-3-8B-Instruct", "paper"] and delta[0] == "Δ baseline"
    level1 = header.index("Level 1")
    assert mine[level1].startswith(f"{derived['level1']:.2f} [")                 # value with its interval
    assert published[level1] == f"{paper['level1']:.2f}"
    assert delta[level1] == f"{derived['level1'] - paper['level1']:.2f}"
    assert mine[header.index("MedNLI")].startswith(f"{derived['mednli']:.2f}")
    assert "baseline" in "".join(parsed.sections["plot"])
    deviations = " ".join(parsed.sections["deviations"])
    assert "first-item-twice" in deviations and "--limit 3" in deviations
    assert "OK:" in "".join(parsed.sections["verify"])


def test_demo_report_says_demo_everywhere_and_is_rescored(runs, tmp_path):
    page = build_report([runs["demo"]], ci=False)
    parsed = _parse(page)
    _self_contained(parsed, page)
    assert "DEMO" in page.split("<title>")[1].split("</title>")[0]
    assert len(parsed.sections) == 7
    for key, texts in parsed.sections.items():
        assert "DEMO" in "".join(texts), key
    verdict = "".join(parsed.sections["verify"])
    assert "OK:" in verdict and "skipped" not in verdict      # re-scored from the store, every cell equal
    assert "Not run (--no-verify)" in "".join(_parse(build_report([runs["demo"]], verify=False, ci=False)).sections["verify"])


def test_a_changed_score_shows_as_differs(runs, tmp_path):
    copy = tmp_path / "changed"
    shutil.copytree(runs["paper"], copy)
    path = next(copy.glob("*/mednli/scores.json"))
    scores = json.loads(path.read_text())
    scores["metrics"]["accuracy"] += 5
    path.write_text(json.dumps(scores))
    parsed = _parse(build_report([copy], ci=False, rescore=False))
    assert "DIFFERS" in "".join(parsed.sections["verify"])


# ------------------------------------------------------------------ in a real browser

def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI is set: install it (see the README's set-up)")
        pytest.skip("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    return found


class _Trap:
    """A listening socket used as the browser's proxy: every connection to it is a request that
    tried to leave the machine."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            connection.settimeout(1)
            try:
                self.requests.append(connection.recv(4096))
            except OSError:
                self.requests.append(b"?")
            connection.close()

    def close(self):
        self._stop = True
        self.thread.join()
        self.server.close()


# Chromium's own background calls (clock, component updates, accounts), which the flags do not all
# silence; they reach the trap too, and are not the page's.
BROWSER_OWN = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")


def _page_hosts(requests: list[bytes]) -> set[str]:
    """Hosts asked for through the trap, other than Chromium's own services."""
    hosts = set()
    for request in requests:
        first = request.split(b"\r\n")[0].decode("latin-1").split()
        target = first[1] if len(first) > 1 else "?"
        host = target.split("://")[-1].split("/")[0].split(":")[0]
        if not any(host == own or host.endswith("." + own) for own in BROWSER_OWN):
            hosts.add(host)
    return hosts


def _run(common: list[str], trap: _Trap, profile: Path, action: list[str]) -> str:
    """Chromium with every request sent to the trap (the only proxy; loopback included)."""
    proxy = [f"--proxy-server=http://127.0.0.1:{trap.port}", "--proxy-bypass-list=<-loopback>",
             f"--user-data-dir={profile}"]
    return subprocess.run(common + proxy + action, check=True, capture_output=True, timeout=120, text=True).stdout


@pytest.mark.slow
def test_the_page_in_headless_chromium(runs, tmp_path):
    browser = _chromium()
    out = tmp_path / "report.html"
    main(["report", str(runs["demo"]), str(runs["paper"]), "--compare", "paper", "--alias", ALIAS,
          "--out", str(out), "--resamples", "100", "--no-rescore"])
    common = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1400,3000", "--hide-scrollbars"]
    # control: a page that does fetch from elsewhere is caught by the trap
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="http://clue-report-test.invalid/pixel.png">x</body></html>')
    trap = _Trap()
    try:
        _run(common, trap, tmp_path / "p0", ["--dump-dom", leaky.as_uri()])
    finally:
        trap.close()
    assert "clue-report-test.invalid" in _page_hosts(trap.requests)

    trap = _Trap()
    try:
        shot = tmp_path / "shot.png"
        _run(common, trap, tmp_path / "p1", [f"--screenshot={shot}", out.as_uri()])
        dom = _run(common, trap, tmp_path / "p2", ["--dump-dom", out.as_uri()])
    finally:
        trap.close()
    assert _page_hosts(trap.requests) == set()       # the page asked for nothing from anywhere

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 3000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50     # drawn, not blank
        red = sum(n for n, (r, g, b) in colours if r > 180 and g < 40 and b < 40)
        assert red > 500                                     # the DEMO badges and banner are painted
    parsed = _parse(dom)
    assert list(parsed.sections)[:3] == ["summary", "tasks", "plot"]
    for key, texts in parsed.sections.items():
        assert "DEMO" in "".join(texts), key
    [row] = load_run(runs["paper"])
    summary = parsed.tables["summary"]
    mine = next(r for r in summary if r[0] == "baseline" and r[1] == "r-paper")
    assert mine[summary[0].index("Level 2")].startswith(f"{row.derived()['level2']:.2f} [")
    assert parsed.tables["mednli"][0][:3] == ["Model", "Source", "Accuracy"]
    assert "Meta-Llama-3-70B-Instruct" in "".join(parsed.sections["plot"])
    assert "left out" in "".join(parsed.sections["plot"])


def test_deviations_in_words():
    from clue.report.html import deviations

    entry = {"options": {"protocol": "upstream", "chat_layout": "base", "limit": None, "metrics": "all,-umls"},
             "identity": {"backend": "openai", "api": "chat"}, "greedy": False, "seed": 7, "layout": "base",
             "task_ids": ["mednli", "meqsum"], "metrics": {"skipped": ["umls"]},
             "backend_settings": {"api": "chat", "prefills_dropped": 4},
             "tasks": {"meqsum": {"truncated_prompts": 2, "n_requests": 10}, "mednli": {"truncated_prompts": 0}},
             "datasets": {"meqsum": {"sha256": "0" * 64}}}
    found = deviations({"protocol": {"name": "upstream", "pins_overridden": True}}, "m", entry)
    text = "\n".join(found)
    assert "first-item-twice averaging" in text and "MedNLI" in text.split("first-item-twice")[1].splitlines()[0]
    assert "MeQSum" not in [line for line in found if line.startswith("first-item-twice")][0]   # plain under upstream
    assert "sampled decoding seeded with seed 7" in text
    assert "--chat-layout base" in text and "meqsum: 2 of 10 prompts" in text and "mednli:" not in text
    assert "metrics left out" in text and "umls" in text
    assert "chat API" in text and "4 prefills could not be sent" in text
    assert "meqsum: the test set" in text and "differs from the published fingerprint" in text
    assert "pins" in text and "--limit" not in text
    paper = deviations({"protocol": {"name": "paper"}}, "m", {"options": {"protocol": "paper", "limit": 5},
                                                               "greedy": True, "seed": 0})
    assert any("--limit 5" in line for line in paper) and not any("chat API" in line for line in paper)
