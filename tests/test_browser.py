"""The built book in a real browser: every page in Chromium, offline.

``make browser-test`` runs this after the strict book build, with
``CNNLAB_BOOK_HTML`` pointing at ``_build/html``. It serves the book on
127.0.0.1 and drives Debian's Chromium through Playwright (no downloaded
browser). On every page: no console errors, no failed requests, every image
loaded and described by alt text, math typeset, no ipywidgets output (it would
show nothing), and in every chapter a figure, copy buttons on code cells and
an .ipynb download. Responsive figures follow their controls, and show their
first frame with scripts off; the digit pad reads digits as cnnlab does.
Then search, dark mode, and the previous/next links
through the whole book in table-of-contents order. Full-page screenshots go
to ``_build/screenshots/``.

Nothing on a page may come from the internet: MathJax is served from the book's
own _static (sphinx-mathjax-offline), and the figures a reader varies are
responsive figures and a digit pad, drawn when the notebooks ran. The browser
blocks every request that leaves 127.0.0.1, and a blocked request fails the test.
No output area may be empty: each shows text, an image or a drawing.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from playwright.sync_api import BrowserContext, Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BOOK_HTML = Path(os.environ["CNNLAB_BOOK_HTML"]) if os.environ.get("CNNLAB_BOOK_HTML") else None
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'
GENERATED_ALT = "cnnlab-generated-alt"  # set by book/_ext/cnnlab_book.py on figures without authored alt text

pytestmark = [
    pytest.mark.skipif(BOOK_HTML is None, reason="runs in `make browser-test`, which builds the book first"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def book_pages() -> list[str]:
    """Every HTML page of the book, as paths relative to its root."""
    if BOOK_HTML is None:
        return []
    skip = {"_static", "_sources", "_images"}
    return sorted(
        p.relative_to(BOOK_HTML).as_posix() for p in BOOK_HTML.rglob("*.html") if not skip & set(p.parts)
    )


def toc_pages() -> list[str]:
    """The pages in reading order: the root, then every part's chapters, as in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    return [f"{file}.html" for file in files]


def is_chapter(page: str) -> bool:
    return page.startswith("notebooks/")


def screenshot_name(page: str, suffix: str = "") -> str:
    return page.removesuffix(".html").replace("/", "-") + suffix + ".png"


# ---------------------------------------------------------------- fixtures


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The book served on 127.0.0.1 at a free port."""
    handler = functools.partial(QuietHandler, directory=str(BOOK_HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(base_url, tmp_path_factory) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile; every request that leaves 127.0.0.1 is blocked."""

    def route(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort("internetdisconnected")  # reported by the page's "requestfailed" listener

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.route("**/*", route)
        yield context
        context.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    directory = BOOK_HTML.parent / "screenshots"
    directory.mkdir(exist_ok=True)
    return directory


class Visit:
    """A page opened in the browser, with every problem the browser reported while loading it."""

    def __init__(self, browser: BrowserContext, url: str, color_scheme: str = "light") -> None:
        self.problems: list[str] = []
        self.page: Page = browser.new_page()
        self.page.emulate_media(color_scheme=color_scheme)
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser, base_url):
    """Open a page of the book by its path; pages are closed after the test."""
    opened = []

    def open_page(page: str, color_scheme: str = "light") -> Visit:
        opened.append(Visit(browser, base_url + page, color_scheme))
        return opened[-1]

    yield open_page
    for v in opened:
        v.close()


# ---------------------------------------------------------------- checks

IMAGES = """() => Array.from(document.images).map(img => ({
    src: img.getAttribute("src").slice(0, 80),
    alt: img.getAttribute("alt"),
    loaded: img.complete && img.naturalWidth > 0,
    figure: img.closest(".cell_output") !== null,
    generated: img.classList.contains("%s"),
}))""" % GENERATED_ALT

LOAD_ALL_IMAGES = """async () => {
    for (const img of document.images) img.loading = "eager";
    await Promise.all(Array.from(document.images).map(img => img.decode().catch(() => null)));
}"""

EMPTY_OUTPUTS = """() => Array.from(document.querySelectorAll("div.cell_output")).filter(out =>
    !out.innerText.trim() && !out.querySelector("img, canvas, svg, table, mjx-container")).length"""

# Sphinx marks math with the class "math"; MathJax typesets each into an <mjx-container>.
MATH_TYPESET = """() => document.querySelectorAll(".math").length === 0
    || document.querySelectorAll("mjx-container").length > 0"""


def chapter_problems(page: Page, images: list[dict]) -> list[str]:
    """A chapter shows a figure, has copy buttons on its code cells and a working .ipynb download."""
    problems = []
    if not any(image["figure"] and image["loaded"] for image in images):
        problems.append("a chapter without a rendered figure")
    if not page.locator("div.cell_input button.copybtn").count():
        problems.append("code cells without a copy button")
    downloads = page.locator('a[href$=".ipynb"]')
    if not downloads.count():
        problems.append("no .ipynb download link")
    else:
        url = urljoin(page.url, downloads.first.get_attribute("href"))
        response = page.request.get(url)
        if not response.ok or '"cells"' not in response.text():
            problems.append(f"the .ipynb download is not a notebook: {url} (HTTP {response.status})")
    return problems


@pytest.mark.parametrize("page", book_pages())
def test_page_renders_cleanly(page, visit, screenshots):
    v = visit(page)
    problems = v.problems

    n_views = v.page.locator(WIDGET_VIEW).count()
    if n_views:
        problems.append(
            f"{n_views} ipywidgets outputs: on the published page they show nothing (no kernel "
            "behind them, no widget manager loaded); tag their cells remove-output and draw "
            "the figure with cnnlab.viz.frames"
        )
    empty = v.page.evaluate(EMPTY_OUTPUTS)
    if empty:
        problems.append(f"{empty} output areas show nothing")
    try:
        v.page.wait_for_function(MATH_TYPESET, timeout=20_000)
    except PlaywrightTimeout:
        problems.append("math on the page was not typeset (MathJax did not load)")

    v.page.evaluate(LOAD_ALL_IMAGES)
    images = v.page.evaluate(IMAGES)
    for image in images:
        if not image["loaded"]:
            problems.append(f"image did not load: {image['src']}")
        alt = (image["alt"] or "").strip()
        if not alt or re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.IGNORECASE):
            problems.append(f"image without alt text: {image['src']} (alt={image['alt']!r})")
    generated = sum(image["generated"] for image in images)
    if generated:
        problems.append(
            f"{generated} of {len(images)} figures have generated alt text; describe them with "
            'the cell metadata "mystnb": {"image": {"alt": "..."}}'
        )
    if is_chapter(page):
        problems += chapter_problems(v.page, images)

    v.page.screenshot(path=screenshots / screenshot_name(page), full_page=True)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


RESPONSIVE = ".cnnlab-frames"


def responsive_pages() -> list[str]:
    """The pages with a responsive figure (cnnlab.viz.frames)."""
    return [p for p in book_pages() if 'class="cnnlab-frames"' in (BOOK_HTML / p).read_text(encoding="utf-8")]


SHOWN = """(figure) => {
    const img = figure.querySelector("img");
    return {key: img.dataset.key, src: img.getAttribute("src"), alt: img.getAttribute("alt"),
            loaded: img.complete && img.naturalWidth > 0};
}"""


def expected_frame(data: dict, key: str) -> str:
    return f"data:{data['mime']};base64," + data["images"][data["frames"][key]]


@pytest.mark.parametrize("page", responsive_pages())
def test_responsive_figures_follow_their_controls_with_no_python(page, visit, screenshots):
    """Each control, set to each of its values, puts up the frame Python drew for that setting
    (the frames of the page's data; tests/test_frames.py checks they are the plots' figures)."""
    v = visit(page)
    figures = v.page.locator(RESPONSIVE)
    assert figures.count()
    for n in range(figures.count()):
        figure = figures.nth(n)
        figure.scroll_into_view_if_needed()
        data = json.loads(figure.locator(".cnnlab-frames-data").text_content())
        name = screenshot_name(page, f"-responsive-{n}")
        figure.screenshot(path=screenshots / name.replace(".png", "-before.png"))
        first = figure.evaluate(SHOWN)
        changed = False
        controls = figure.locator("[data-control]")
        assert controls.count(), "a responsive figure without controls"
        for c in range(controls.count()):
            control = controls.nth(c)
            if control.evaluate("el => el.tagName") == "SELECT":
                count = control.locator("option").count()
                for index in [*range(1, count), 0]:
                    control.select_option(index=index)  # a value would also match an option's label
                    shown = figure.evaluate(SHOWN)
                    # the menu the reader set keeps its value; the others move to a frame that exists
                    assert shown["key"].split(",")[c] == str(index), shown["key"]
                    assert shown["src"] == expected_frame(data, shown["key"]), f"frame of {shown['key']}"
                    assert shown["alt"] == data["alts"][shown["key"]]
                    changed |= shown["src"] != first["src"]
            else:  # a slider: step it with the keyboard, as a reader does
                control.focus()
                for _ in range(3):
                    before = figure.evaluate(SHOWN)
                    v.page.keyboard.press("ArrowRight")
                    shown = figure.evaluate(SHOWN)
                    assert shown["src"] == expected_frame(data, shown["key"]), f"frame of {shown['key']}"
                    if shown["key"] != before["key"]:
                        assert shown["src"] != before["src"] or data["frames"][shown["key"]] == data["frames"][before["key"]]
                    changed |= shown["src"] != first["src"]
                v.page.keyboard.press("End")
                last = figure.evaluate(SHOWN)
                maximum = int(control.get_attribute("max"))
                assert int(last["key"].split(",")[c]) == maximum, "End goes to the last valid position"
                assert last["key"] in data["frames"]
        assert changed, "no control changed the image"
        first_control = controls.nth(0)
        if first_control.evaluate("el => el.tagName") == "SELECT":  # the loop ended on 0
            first_control.select_option(index=first_control.locator("option").count() - 1)
        figure.screenshot(path=screenshots / name.replace(".png", "-after.png"))
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.parametrize("page", responsive_pages())
def test_responsive_figures_show_their_first_frame_without_scripts(page, browser, base_url, screenshots):
    """With scripts off, each responsive figure is its first frame, a plain image with alt
    text, and shows no controls (they could not work)."""
    tab = browser.new_page()
    browser.new_cdp_session(tab).send("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        tab.goto(base_url + page, wait_until="load")
        figures = tab.locator(RESPONSIVE)
        assert figures.count()
        for n in range(figures.count()):
            figure = figures.nth(n)
            figure.scroll_into_view_if_needed()
            image = figure.locator("img")
            assert image.is_visible()
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
            assert (image.get_attribute("alt") or "").strip()
            assert not figure.locator(".cnnlab-frames-controls").is_visible(), "controls that cannot work"
            figure.screenshot(path=screenshots / screenshot_name(page, f"-responsive-{n}-no-script"))
    finally:
        tab.close()


def _line(a, b, steps=12):
    return [(a[0] + (b[0] - a[0]) * t / steps, a[1] + (b[1] - a[1]) * t / steps) for t in range(steps + 1)]


def _ellipse(cx, cy, rx, ry, steps=40):
    import math

    return [(cx + rx * math.cos(2 * math.pi * t / steps), cy + ry * math.sin(2 * math.pi * t / steps))
            for t in range(steps + 1)]


# Digits as a reader draws them, as strokes in a unit box (y downwards).
CLEAR_DIGITS = {
    0: [_ellipse(0.5, 0.5, 0.22, 0.33)],
    1: [_line((0.35, 0.3), (0.5, 0.15)) + _line((0.5, 0.15), (0.5, 0.85)), _line((0.35, 0.85), (0.65, 0.85))],
    4: [_line((0.6, 0.15), (0.3, 0.6)) + _line((0.3, 0.6), (0.75, 0.6)), _line((0.6, 0.3), (0.6, 0.85))],
    7: [_line((0.3, 0.2), (0.7, 0.2)) + _line((0.7, 0.2), (0.45, 0.85))],
    8: [_ellipse(0.5, 0.32, 0.15, 0.16), _ellipse(0.5, 0.67, 0.18, 0.18)],
}


def pad_pages() -> list[str]:
    """The pages with a digit pad (cnnlab.viz.digit_pad)."""
    return [p for p in book_pages() if 'class="cnnlab-pad"' in (BOOK_HTML / p).read_text(encoding="utf-8")]


def model_from_spec(spec: dict):
    """The network a digit pad's page holds, as a cnnlab model with the page's weights."""
    import numpy as np

    from cnnlab.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Softmax

    layers = []
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "conv":
            f, c, kh, kw = layer["shape"]
            made = Conv2d(c, f, (kh, kw), stride=tuple(layer["stride"]), padding=tuple(layer["padding"]))
        elif kind == "linear":
            made = Linear(layer["shape"][1], layer["shape"][0])
        else:
            made = {"relu": ReLU, "flatten": Flatten, "softmax": Softmax}.get(kind)
            made = MaxPool2d(tuple(layer["size"]), tuple(layer["stride"])) if kind == "maxpool" else made()
        if kind in ("conv", "linear"):
            made.params["w"] = np.array(layer["w"], np.float32).reshape(layer["shape"])
            made.params["b"] = np.array(layer["b"], np.float32)
        layers.append(made)
    model = Sequential(*layers, input_shape=(1, spec["size"], spec["size"]))

    def probabilities(pixels):
        x = (np.asarray(pixels, np.float32).reshape(-1, 1, 8, 8) / spec["max_pixel"] - spec["mean"]) / spec["std"]
        return np.asarray(model(x.astype(np.float32)))

    return probabilities


@pytest.mark.parametrize("page", pad_pages())
def test_the_digit_pad_reads_digits_as_cnnlab_does(page, visit, screenshots):
    """The page's forward pass gives cnnlab's probabilities (within 1e-5) on its test digits and
    on a stroke drawn with the mouse, with the weights the page holds."""
    import numpy as np

    v = visit(page)
    pad = v.page.locator(".cnnlab-pad")
    pad.scroll_into_view_if_needed()
    spec = json.loads(pad.locator(".cnnlab-pad-data").text_content())
    probabilities = model_from_spec(spec)
    examples = [example["pixels"] for example in spec["examples"]]
    assert examples, "a pad without test digits"
    got = np.array([pad.evaluate("(el, px) => el.cnnlabDigitPad.forward(px)", pixels) for pixels in examples])
    np.testing.assert_allclose(got, probabilities(examples), atol=1e-5)
    pad.screenshot(path=screenshots / screenshot_name(page, "-digit-pad-before"))

    box = pad.locator("canvas.cnnlab-pad-draw").bounding_box()
    x, top = box["x"] + 0.5 * box["width"], box["y"] + 0.15 * box["height"]
    v.page.mouse.move(x - 0.15 * box["width"], top + 0.1 * box["height"])  # a 1 with a flag
    v.page.mouse.down()
    v.page.mouse.move(x, top)
    for k in range(1, 21):
        v.page.mouse.move(x, top + k * 0.035 * box["height"])
    v.page.mouse.up()
    drawn = pad.evaluate("el => el.cnnlabLastPixels")
    shown = np.array(pad.evaluate("el => el.cnnlabLastProbabilities"))
    assert np.array(drawn).sum() > 0
    np.testing.assert_allclose(shown, probabilities(drawn)[0], atol=1e-5)
    verdict = pad.locator(".cnnlab-pad-verdict").text_content()
    assert verdict.startswith(f"The network reads {int(shown.argmax())} "), verdict
    assert pad.locator(".cnnlab-pad-bars > div").count() == 10
    assert pad.locator(".cnnlab-pad-maps canvas").count() > 10, "no feature maps shown"
    pad.screenshot(path=screenshots / screenshot_name(page, "-digit-pad-after"))
    # clear digits, drawn as a reader would, are read as what they are
    assert int(shown.argmax()) == 1, f"a 1 with a flag read as {int(shown.argmax())}"
    for expected, strokes in CLEAR_DIGITS.items():
        points = [[[x * box["width"], y * box["height"]] for x, y in stroke] for stroke in strokes]
        pixels = pad.evaluate("(el, s) => el.cnnlabDigitPad.prepare(s)", points)
        read = np.array(pad.evaluate("(el, px) => el.cnnlabDigitPad.forward(px)", pixels))
        assert int(read.argmax()) == expected, f"a drawn {expected} read as {int(read.argmax())} ({read.max():.0%})"
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.parametrize("page", pad_pages())
def test_without_scripts_the_digit_pad_is_a_still_figure(page, browser, base_url, screenshots):
    tab = browser.new_page()
    browser.new_cdp_session(tab).send("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        tab.goto(base_url + page, wait_until="load")
        pad = tab.locator(".cnnlab-pad")
        pad.scroll_into_view_if_needed()
        still = pad.locator(".cnnlab-pad-still img")
        assert still.is_visible() and still.evaluate("img => img.complete && img.naturalWidth > 0")
        assert (still.get_attribute("alt") or "").strip()
        assert not pad.locator(".cnnlab-pad-live").is_visible(), "a pad that cannot draw"
        pad.screenshot(path=screenshots / screenshot_name(page, "-digit-pad-no-script"))
    finally:
        tab.close()


def test_search_finds_im2col(visit, screenshots):
    v = visit("search.html?q=im2col")
    results = v.page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    links = [results.nth(k).locator("a").first.get_attribute("href") for k in range(results.count())]
    v.page.screenshot(path=screenshots / "search-im2col.png", full_page=True)
    assert not v.problems, "\n".join(v.problems)
    assert any("04-vectorizing-with-numpy" in link for link in links), links


def test_previous_next_walk_the_numbered_chapters_in_toc_order(visit):
    expected = toc_pages()
    v = visit(expected[0])
    forward, titles = [expected[0]], {}
    while v.page.locator("a.right-next").count():
        with v.page.expect_navigation(wait_until="load"):  # not the page the click left
            v.page.locator("a.right-next").click()
        page = urlsplit(v.page.url).path.lstrip("/")
        forward.append(page)
        titles[page] = v.page.locator("main h1").first.inner_text()
    assert forward == expected

    chapters = [page for page in expected if is_chapter(page)]
    for number, page in enumerate(chapters, start=1):
        assert titles[page].startswith(f"{number}. "), f"{page}: chapter {number} is titled {titles[page]!r}"

    backward = [forward[-1]]
    while v.page.locator("a.left-prev").count():
        with v.page.expect_navigation(wait_until="load"):
            v.page.locator("a.left-prev").click()
        backward.append(urlsplit(v.page.url).path.lstrip("/"))
    assert backward == expected[::-1], backward
    assert not v.problems, "\n".join(v.problems)


def test_figures_stay_readable_in_dark_mode(visit, screenshots):
    # Figures are drawn for a white page; on the dark theme each must sit on a light, opaque background.
    page = next(page for page in toc_pages() if is_chapter(page))
    v = visit(page, color_scheme="dark")
    assert v.page.evaluate("document.documentElement.dataset.theme") == "dark"
    backgrounds = v.page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output img'), img => getComputedStyle(img).backgroundColor)"
    )
    v.page.screenshot(path=screenshots / screenshot_name(page, "-dark"), full_page=True)
    assert backgrounds, f"{page} has no figures"
    for background in backgrounds:
        red, green, blue, *alpha = (float(c) for c in re.findall(r"[\d.]+", background))
        assert min(red, green, blue) >= 180 and alpha in ([], [1.0]), f"dark background under a figure: {background}"
    assert not v.problems, "\n".join(v.problems)
