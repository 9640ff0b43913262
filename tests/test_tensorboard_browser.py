"""TensorBoard over real run folders, rendered by headless Chromium (Debian's package).

Two tiny trainings with different hyperparameters write real event files; TensorBoard
serves them on a free loopback port; Playwright drives /usr/bin/chromium (no browser
download of its own) through the Scalars and HParams pages, and every request the pages
make to anywhere but the loopback server is refused and counted.
"""

import json
import math
import re
import urllib.parse
from pathlib import Path

import pytest

from keras_minibatch import TrainConfig
from tensorboard_helpers import start_tensorboard

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"Debian's Chromium is not at {CHROMIUM}; install it with `apt-get install chromium` (.ci/run does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the Playwright package is not installed; `pip install -e .[test]` brings it"
)

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server",
]
TIMEOUT_MS = 20_000
RUNS = {
    "run1": TrainConfig(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(16,)),
    "run2": TrainConfig(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(32, 16), learning_rate=0.01),
}
CURVES = {"epoch_loss": "loss", "epoch_accuracy": "accuracy"}  # TensorBoard tag -> history key
SPLITS = {"train": "", "validation": "val_"}  # TensorBoard run suffix -> history key prefix

# Every scalar card in the page (they live inside shadow roots): its tag, the runs it
# loads and how many line paths it has drawn.
SCALAR_CARDS_JS = """
() => {
  const cards = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'TF-SCALAR-CARD') cards.push(el);
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  const drawnLines = (root) => {
    let count = 0;
    for (const el of root.querySelectorAll('*')) {
      if (el.matches('path.line') && (el.getAttribute('d') || '').length > 2) count++;
      if (el.shadowRoot) count += drawnLines(el.shadowRoot);
    }
    return count;
  };
  return cards.map((card) => ({
    tag: card.tag,
    runs: (card.dataToLoad || []).map((item) => item.run),
    lines: drawnLines(card.shadowRoot),
  }));
}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real run folders under one root: `(root, {name: TrainResult})`."""
    from keras_minibatch import train_and_evaluate  # Imports TensorFlow: not before the skips.

    root = tmp_path_factory.mktemp("tensorboard") / "runs"
    results = {name: train_and_evaluate(config, root / name, verbose=0) for name, config in RUNS.items()}
    return root, results


@pytest.fixture(scope="module")
def tensorboard_url(runs):
    # load_once: every event file is read before the first page asks, so nothing races.
    process, url = start_tensorboard(runs[0], port=0, timeout=60, load_once=True)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class LoopbackPage:
    """A fresh page whose requests beyond the TensorBoard server are aborted and recorded."""

    def __init__(self, browser, url):
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.external_requests = []
        self.responses = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", lambda response: self.responses.append(response))

    def _route(self, route):
        if route.request.url.startswith(self.url):
            route.continue_()
        else:
            self.external_requests.append(route.request.url)
            route.abort()

    def open(self, fragment):
        self.page.goto(self.url + "#" + fragment)
        return self.page


@pytest.fixture
def loopback_page(browser, tensorboard_url):
    page = LoopbackPage(browser, tensorboard_url)
    yield page
    page.context.close()


def expected_runs():
    return [f"{name}/tensorboard/{split}" for name in RUNS for split in SPLITS]


def test_scalars_page_lists_the_train_and_validation_runs_of_both_trainings(loopback_page):
    page = loopback_page.open("scalars")
    for run in expected_runs():
        sync_api.expect(page.locator("tf-runs-selector").get_by_text(run, exact=True)).to_be_visible()


def test_scalars_page_draws_train_and_validation_curves_from_the_history(loopback_page, runs, tmp_path):
    _, results = runs
    page = loopback_page.open("scalars&_smoothingWeight=0&tagFilter=" + urllib.parse.quote("^epoch_(loss|accuracy)$"))
    page.get_by_text("Ignore outliers in chart scaling").click()  # show every point, unclipped
    # Two curves (train, validation) per training, per tag, drawn as SVG paths.
    page.wait_for_function(
        f"""() => {{
          const cards = ({SCALAR_CARDS_JS})().filter((card) => card.tag in {json.dumps(CURVES)});
          return cards.length >= 2 && cards.every((card) => card.lines >= 4);
        }}""",
        timeout=TIMEOUT_MS,
    )
    page.screenshot(path=tmp_path / "scalars.png", full_page=True)

    cards = {card["tag"]: card for card in page.evaluate(SCALAR_CARDS_JS)}
    for tag in CURVES:
        assert sorted(cards[tag]["runs"]) == sorted(expected_runs())
    # What the page loaded for those curves is the training history, epoch by epoch.
    loaded = {}
    for response in loopback_page.responses:
        if "/data/plugin/scalars/scalars_multirun" in response.url:
            # The page posts multipart form data: tag=..., runs=... (repeated).
            tag = re.search(r'name="tag"\r\n\r\n([^\r]*)', response.request.post_data or "").group(1)
            loaded.setdefault(tag, {}).update(response.json())
    for tag, key in CURVES.items():
        for name, result in results.items():
            for split, prefix in SPLITS.items():
                points = loaded[tag][f"{name}/tensorboard/{split}"]
                assert [step for _, step, _ in points] == [0, 1]
                assert [value for _, _, value in points] == pytest.approx(result.history[prefix + key], rel=1e-6)
    assert loopback_page.external_requests == []


def hparams_table(page):
    """The HParams table as `{trial_id: {column: text}}`."""
    table = page.locator("tf-hparams-table-view")
    headers = table.locator(".table-header.table-cell").all_inner_texts()
    cells = table.locator(".table-cell:not(.table-header)").all_inner_texts()
    assert len(cells) % len(headers) == 0, (headers, cells)
    rows = [dict(zip(headers, cells[start:start + len(headers)])) for start in range(0, len(cells), len(headers))]
    # The first row is the table's empty template.
    return {row["Trial ID"].strip(): {key: value.strip() for key, value in row.items()} for row in rows if row["Trial ID"].strip()}


def test_hparams_page_shows_each_trials_hyperparameters_and_metrics(loopback_page, runs, tmp_path):
    _, results = runs
    page = loopback_page.open("hparams")
    page.set_viewport_size({"width": 2500, "height": 900})  # room for the metric columns
    table = page.locator("tf-hparams-table-view")
    for name in RUNS:
        sync_api.expect(table.locator(".table-cell").get_by_text(name, exact=True)).to_be_visible()
    sync_api.expect(table.locator(".table-header").get_by_text("validation.epoch_loss", exact=True)).to_be_visible()
    page.screenshot(path=tmp_path / "hparams.png", full_page=True)

    rows = hparams_table(page)
    assert set(rows) == set(RUNS)
    for name, config in RUNS.items():
        row = rows[name]
        assert row["hidden_units"] == ",".join(str(units) for units in config.hidden_units)
        assert float(row["learning_rate"]) == pytest.approx(config.learning_rate)
        # TensorBoard shows five significant digits of the last epoch's value.
        for column, key in (("train.epoch_loss", "loss"), ("validation.epoch_loss", "val_loss")):
            assert float(row[column]) == pytest.approx(results[name].history[key][-1], rel=1e-4)
    assert not math.isnan(float(rows["run1"]["validation.epoch_accuracy"]))
    assert loopback_page.external_requests == []
