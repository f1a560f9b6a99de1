#!/usr/bin/python3
"""The viewer's page in headless Chromium, driven through chromedriver's
WebDriver HTTP protocol (standard library only), against `wfstore serve` on a
store written by browser_store (tests/viewer/browser_store.cc).

It loads the list (10,000 workflows), filters it and opens a workflow, moves
the as-of slider and sees the stage statuses change, opens a diff, sees a live
update arrive after a commit made by another process while the page is open,
checks that markup in the store's strings stays text, writes a screenshot of
the workflow page, and prints the time to first render of the list and of a
workflow with 10,000 events.

Exit 77 (ctest's SKIP_RETURN_CODE) only when chromium or chromedriver is not
installed; any other failure exits 1.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'
KEY_HOME = '\ue011'
KEY_RIGHT = '\ue014'
DEADLINE = time.monotonic() + 100  # ctest's TIMEOUT is 120 s


class WebDriver:
    """The few WebDriver commands the test needs."""

    def __init__(self, port, chromium):
        self.base = f'http://127.0.0.1:{port}'
        caps = {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:loggingPrefs': {'browser': 'ALL'},
            'goog:chromeOptions': {
                'binary': chromium,
                'args': ['--headless=new', '--no-sandbox', '--disable-gpu',
                         '--disable-dev-shm-usage', '--window-size=1500,1300',
                         '--no-first-run', '--no-default-browser-check',
                         '--disable-extensions', '--disable-background-networking',
                         '--disable-component-update', '--disable-sync'],
            }}}}
        self.session = self.call('POST', '/session', caps)['sessionId']

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())['value']
        except urllib.error.HTTPError as e:
            raise AssertionError(f'WebDriver {method} {path}: {e.read()[:500]!r}')

    def s(self, method, path, body=None):
        return self.call(method, f'/session/{self.session}{path}', body)

    def get(self, url):
        self.s('POST', '/url', {'url': url})

    def js(self, script, *args):
        return self.s('POST', '/execute/sync', {'script': script, 'args': list(args)})

    def find(self, css):
        found = self.s('POST', '/element', {'using': 'css selector', 'value': css})
        if ELEMENT not in found:
            raise AssertionError(f'no element {css}: {str(found)[:300]}')
        return found[ELEMENT]

    def click(self, css):
        self.s('POST', f'/element/{self.find(css)}/click', {})

    def keys(self, css, text):
        self.s('POST', f'/element/{self.find(css)}/value', {'text': text})

    def screenshot(self, path):
        with open(path, 'wb') as f:
            f.write(base64.b64decode(self.s('GET', '/screenshot')))

    def console(self):
        try:
            return self.s('POST', '/se/log', {'type': 'browser'})
        except AssertionError:
            return []

    def quit(self):
        try:
            self.s('DELETE', '')
        except Exception:
            pass

    def wait(self, script, what, *args, timeout=15):
        """Polls `script` (a function body returning a value) until truthy."""
        end = min(time.monotonic() + timeout, DEADLINE)
        while True:
            value = self.js(script, *args)
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f'timed out waiting for {what}')
            time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_http(url, timeout=15):
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > end:
                raise AssertionError(f'{url} did not answer')
            time.sleep(0.05)


def check(cond, message):
    if not cond:
        raise AssertionError(message)
    print('ok  ', message, flush=True)


READY = "return document.getElementById('app').dataset.state === 'ready'"
STAGE_STATUS = """
const g = document.querySelector(`#stage-graph g.stage[data-ref="${arguments[0]}"]`);
return g ? g.dataset.status : null;"""
DRAWN = """
const m = performance.getEntriesByName(arguments[0]);
return m.length ? m[0].startTime : null;"""


def run(args, tmp):
    store = args.store or os.path.join(tmp, 'store')
    t0 = time.monotonic()
    ids = json.loads(subprocess.run(
        [args.store_gen, 'create', store, str(args.workflows), str(args.big_events)],
        check=True, capture_output=True, text=True, timeout=60).stdout)
    print(f'store: {ids} written in {time.monotonic() - t0:.1f} s', flush=True)

    if args.url:  # a server started by hand over args.store
        url = args.url
    else:
        serve = subprocess.Popen([args.tool, 'serve', '--dir', store, '--listen', '127.0.0.1:0'],
                                 stdout=subprocess.PIPE, text=True)
        procs.append(serve)
        url = serve.stdout.readline().strip()
        check(url.startswith('http://127.0.0.1:'), f'wfstore serve prints its URL first ({url})')
    url = url.rstrip('/')

    port = free_port()
    driver_proc = subprocess.Popen([args.chromedriver, f'--port={port}'],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(driver_proc)
    wait_http(f'http://127.0.0.1:{port}/status')
    d = WebDriver(port, args.chromium)
    drivers.append(d)

    # The list: 10,000 workflows, paged.
    d.get(url + '/')
    d.wait(READY, 'the list')
    d.wait("return document.querySelectorAll('#workflows tbody tr').length > 0", 'rows')
    rows = d.js("return document.querySelectorAll('#workflows tbody tr').length;")
    check(rows == 50, f'the list shows its first page of 50 workflows ({rows})')
    list_ms = d.js(DRAWN, 'wfstore-list-drawn')
    first = d.js("return document.querySelector('#workflows tbody tr').dataset.id;")

    # A commit by another process changes a listed workflow's status live.
    idle = d.js("""const tr = [...document.querySelectorAll('#workflows tbody tr')]
        .find((tr) => tr.querySelector('.badge').dataset.status === 'RUNNING' &&
                      tr.cells[1].textContent !== 'payments');
        return tr ? tr.dataset.id : null;""")
    check(idle is not None, f'the first page lists a RUNNING workflow of another application ({idle})')
    d.wait("return document.getElementById('live').textContent === 'live';", 'the event stream')
    subprocess.run([args.store_gen, 'set', store, idle, 'TERMINAL'], check=True, timeout=30)
    d.wait("""const tr = document.querySelector(`#workflows tbody tr[data-id="${arguments[0]}"]`);
        return tr && tr.querySelector('.badge').dataset.status === 'TERMINAL';""",
           'the row TERMINAL', idle)
    check(True, f'the list shows {idle} TERMINAL after a commit made while it is open')
    d.click('#next-page')
    d.wait("return document.querySelector('#workflows tbody tr').dataset.id !== arguments[0]"
           " && document.getElementById('app').dataset.state === 'ready';", 'the next page', first)
    check(True, 'the next page (cursor) shows other workflows')

    # Filters: payments, RUNNING, started in the last hour: only the DAG workflow.
    d.keys('#filters input[name=application]', 'payments')
    d.click('#filters input[name=status][value=RUNNING]')
    d.js("""document.querySelector('#filters input[name=after]').value = arguments[0];""",
         time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(time.time() - 3600)))
    d.click('#filters button[type=submit]')
    d.wait("return location.hash.includes('application=payments') &&"
           " document.getElementById('app').dataset.state === 'ready';", 'the filtered list')
    listed = d.js("return [...document.querySelectorAll('#workflows tbody tr')]"
                  ".map((tr) => tr.dataset.id);")
    check(listed == [ids['dag']], f'the filters leave the one running payments workflow ({listed})')

    # Open it.
    d.click(f'#workflows tbody tr[data-id="{ids["dag"]}"] a')
    d.wait(READY + " && !!document.getElementById('stage-graph')", 'the workflow page')
    d.wait("return document.getElementById('asof').max > 0", 'the points')
    check(d.js(STAGE_STATUS, 'canary') == 'SUCCEEDED' and d.js(STAGE_STATUS, 'prod') == 'NOT_STARTED',
          'the stage graph: canary SUCCEEDED, prod NOT_STARTED')
    synthetic = d.js("""return [...document.querySelectorAll('#stage-graph g.stage')]
        .map((g) => g.dataset.ref).join(' ');""")
    check('canary-lock canary canary-notify' in synthetic,
          f'synthetic stages drawn beside their parent ({synthetic})')
    color = d.js("""const r = document.querySelector('#stage-graph g.stage[data-ref=canary] rect');
        return r.getAttribute('stroke');""")
    check(color == '#2e7d32', f'SUCCEEDED in the timeline picture\'s green ({color})')
    d.wait("const i = document.getElementById('timeline'); return i.complete && i.naturalWidth > 0;",
           'the timeline picture')
    d.wait("return document.querySelectorAll('#history tbody tr').length > 0", 'the history')
    d.wait("return document.querySelector('#queue h3') !== null", 'the queue')
    check('StartStage' in d.js("return document.getElementById('queue').textContent;"),
          'the queue panel lists the workflow\'s StartStage message')
    d.click('#stage-graph g.stage[data-ref=canary]')
    d.wait("return document.querySelector('#stage-detail #tasks') !== null", 'the stage detail')
    check('canary ok' in d.js("return document.getElementById('stage-detail').textContent;"),
          'a selected stage shows its tasks and outputs')
    d.screenshot(os.path.join(args.out, 'viewer.png'))
    check(True, f'screenshot written to {os.path.join(args.out, "viewer.png")}')

    # The as-of slider: back to the first point, then two steps on.
    d.keys('#asof', KEY_HOME)
    first_lsn = d.js("return String(document.getElementById('asof').dataset.first);")
    d.wait("return document.getElementById('app').dataset.asOf === arguments[0] &&"
           " document.getElementById('app').dataset.state === 'ready';",
           'the page as of the first point', first_lsn)
    check(d.js(STAGE_STATUS, 'build') == 'NOT_STARTED' and d.js(STAGE_STATUS, 'canary') == 'NOT_STARTED',
          f'as of LSN {first_lsn} every stage is NOT_STARTED')
    d.keys('#asof', KEY_RIGHT + KEY_RIGHT)
    d.wait("return arguments[0] === null || document.getElementById('app').dataset.asOf !== arguments[0];",
           'the page as of the third point', first_lsn)
    d.wait(READY, 'the redraw')
    at = d.js("return document.getElementById('app').dataset.asOf;")
    check(d.js(STAGE_STATUS, 'build') == 'RUNNING', f'as of LSN {at} build is RUNNING')
    check('at=' in d.js('return location.hash;'), 'the address names the point (#wf=..&at=LSN)')

    # The diff between the first point and the slider's point names the events.
    d.js("document.getElementById('diff-from').value = arguments[0];", first_lsn)
    d.click('#diff-form button')
    d.wait("return document.querySelectorAll('#diff-table tbody tr').length > 0", 'the diff')
    diff = d.js("return [...document.querySelectorAll('#diff-table tbody tr')].map((tr) => tr.textContent);")
    check(any('-build' in r and 'status' in r and 'StageUpdated' in r and 'engine@worker' in r
              for r in diff), f'the diff names the event that started build ({len(diff)} changes)')

    # Live: back to now; a commit by another process reaches the open page.
    d.click('#asof-now')
    d.wait(READY + " && document.getElementById('app').dataset.asOf !== arguments[0]",
           'the page now', first_lsn)
    d.wait("return document.getElementById('live').textContent === 'live';", 'the event stream')
    subprocess.run([args.store_gen, 'finish', store], check=True, timeout=30)
    t0 = time.monotonic()
    d.wait(STAGE_STATUS.replace('return g ?', 'return g && g.dataset.status === "SUCCEEDED" ?'),
           'prod SUCCEEDED after the commit', 'prod')
    live_ms = (time.monotonic() - t0) * 1000
    check(d.js("return document.querySelector('#wf-header .badge').dataset.status;") == 'SUCCEEDED',
          f'a commit made while the page is open shows up live ({live_ms:.0f} ms)')

    # Store strings stay text.
    d.get(url + '/#wf=' + ids['hostile'])
    d.wait(READY, 'the markup workflow')
    d.click('#stage-graph g.stage[data-ref=build]')
    check(d.js("return document.getElementById('injected') === null && document.title.indexOf('pwned') < 0"
               " && document.querySelectorAll('#app script, #app img:not(#timeline)').length === 0;"),
          'markup in names and JSON is shown as text, never parsed')
    check(d.js("return document.getElementById('wf-name').textContent;").startswith('<img src=x'),
          'the name is shown as written')

    # Time to first render of a workflow with 10,000 events (a fresh load).
    big_ms = None
    if ids['big']:
        d.get('about:blank')
        d.get(url + '/#wf=' + ids['big'])
        d.wait(READY, 'the big workflow')
        big_ms = d.wait(DRAWN, 'the mark', 'wfstore-workflow-drawn')
        d.wait("return document.getElementById('asof').max > 1000", 'its points')
        d.keys('#asof', KEY_HOME + KEY_RIGHT * 20)
        d.wait("return document.getElementById('app').dataset.asOf !== arguments[0] && "
               "document.getElementById('app').dataset.state === 'ready';", 'a slide on it', '')
        check(True, 'the slider moves over a workflow of 10,000 events')

    # The page ran under its policy: no inline script or style, nothing from
    # elsewhere (a violation is a console error, counted below).
    policy = d.js("""const r = new XMLHttpRequest();
        r.open('GET', '/', false); r.send();
        return r.getResponseHeader('Content-Security-Policy');""")
    check(policy == "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
          f'the page is served under default-src \'self\' ({policy})')
    log = d.console()
    violations = [e for e in log if 'Content Security Policy' in e.get('message', '')]
    check(not violations, f'no Content Security Policy violations ({violations[:3]})')
    errors = [e for e in log if e.get('level') == 'SEVERE']
    check(not errors, f'no errors in the console ({errors[:3]})')
    print(f'figure: time to first render, list of {args.workflows} workflows: {list_ms:.0f} ms')
    if big_ms is not None:
        print(f'figure: time to first render, workflow of {args.big_events} events: {big_ms:.0f} ms')
    print(f'figure: commit to live update on the page: {live_ms:.0f} ms')


procs = []
drivers = []


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--tool', required=True, help='build/tools/wfstore')
    p.add_argument('--store-gen', required=True, help='the browser_store binary')
    p.add_argument('--out', required=True, help='where viewer.png goes')
    p.add_argument('--chromium', default=shutil.which('chromium') or '/usr/bin/chromium')
    p.add_argument('--chromedriver', default=shutil.which('chromedriver') or '/usr/bin/chromedriver')
    p.add_argument('--url', help='use this running server over --store instead of starting one')
    p.add_argument('--store', help='the store directory to create (default: a temporary one)')
    p.add_argument('--workflows', type=int, default=int(os.environ.get('WFSTORE_VIEWER_WORKFLOWS', 10000)))
    p.add_argument('--big-events', type=int, default=int(os.environ.get('WFSTORE_VIEWER_EVENTS', 10000)))
    args = p.parse_args()
    for prog in (args.chromium, args.chromedriver):
        if not (prog and os.access(prog, os.X_OK)):
            print(f'SKIP: {prog or "chromium/chromedriver"} is not installed')
            return SKIP
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='wfstore-browser-')
    try:
        run(args, tmp)
        print('PASS')
        return 0
    except (AssertionError, OSError, subprocess.SubprocessError, ValueError) as e:
        print('FAIL:', e)
        for d in drivers:
            try:
                d.screenshot(os.path.join(args.out, 'viewer-failure.png'))
                print('console:', d.console()[:10])
            except Exception:
                pass
        return 1
    finally:
        for d in drivers:
            d.quit()
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
