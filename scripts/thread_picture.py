"""docs/deploy-thread.png: a picture of the thread one `/deploy` makes, drawn from the messages the bot
really sends.

    .venv/bin/python scripts/thread_picture.py     # needs chromium (apt-get install chromium)

The bot's own renderers (bot/views.py, bot/progress_view.py, bot/env_views.py) make the Block Kit of a
successful deploy on Elastic Beanstalk — the channel message with its buttons, the progress reply
after its last edit, the result that mentions whoever asked — from representative values; this
script draws those blocks as a Slack thread in HTML and screenshots it with headless Chromium
(`--html PATH` keeps the page).
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import env_views, views  # noqa: E402  (after the path: run as a script from anywhere)
from bot.progress_view import DeployProgress  # noqa: E402
from deployer.build.git import Commit  # noqa: E402
from deployer.environment import Environment, environment_tags  # noqa: E402
from deployer.naming import environment_name, version_label  # noqa: E402
from deployer.pipeline import DeployResult  # noqa: E402
from deployer.progress import (  # noqa: E402
    CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, ImageBuilding, ImageBuilt,
)

PICTURE = ROOT / "docs" / "deploy-thread.png"
WIDTH, HEIGHT = 760, 560

USERS = {"U04ANA7Q2": "ana"}  # who asked, as Slack shows a mention
ASKER = "U04ANA7Q2"
BRANCH = "feature/login-page"
START = datetime(2026, 12, 8, 14, 2, tzinfo=timezone.utc)
EMOJI = {"white_check_mark": "✅", "hourglass_flowing_sand": "⏳", "heavy_multiplication_x": "✖️", "rocket": "🚀",
         "hourglass": "⌛", "x": "❌", "wastebasket": "🗑️", "large_green_circle": "🟢", "large_yellow_circle": "🟡",
         "red_circle": "🔴", "white_circle": "⚪", "warning": "⚠️", "twisted_rightwards_arrows": "🔀"}


# -- the deploy ---------------------------------------------------------------------------------------
def deploy_messages() -> list[tuple[datetime, views.Message]]:
    """(when it was last written, message): the channel message, then the thread's two replies."""
    name = environment_name(BRANCH, "shop-")
    url = f"http://{name}.eu-west-1.elasticbeanstalk.com"
    tags = environment_tags(BRANCH, ASKER, START, START + timedelta(days=1))
    commit = Commit("4f305ed8af70c2d91b5e0c7a3f1e6d2b9a8c7e10", BRANCH, "Log in with a magic link")
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:deploybot-{commit.sha}"

    def env(status: str, health: str) -> Environment:
        return Environment("e-7hq2kx9fbm", name, status, health, url, tags=tags)

    at = lambda seconds: START + timedelta(seconds=seconds)  # noqa: E731
    progress = DeployProgress(BRANCH)
    for seconds, event in [
        (1, CommitResolved(commit)),
        (2, ImageBuilding(image)),
        (3, EnvironmentCreating(env("Launching", "Grey"))),
        (4, EnvironmentChanged(env("Launching", "Grey"))),
        (50, ImageBuilt(image, timedelta(seconds=48))),
        (262, EnvironmentChanged(env("Ready", "Green"))),
        (263, Deploying(env("Updating", "Grey"), version_label(name, commit.sha, at(263)))),
        (264, EnvironmentChanged(env("Updating", "Green"))),
    ]:
        progress.apply(event, at(seconds))
    done = at(331)
    progress.finish(done, ok=True)
    result = DeployResult(BRANCH, env("Ready", "Green"), commit, image, created=True, built=True,
                          took=done - START)
    root = env_views.with_controls(views.deploy_succeeded(result, ASKER), result.environment, done)
    return [(START, root), (at(1), progress.render()), (done, views.Message(views.success_reply(result, ASKER)))]


# -- Block Kit as Slack draws it ------------------------------------------------------------------------
def mrkdwn(text: str) -> str:
    """Slack's mrkdwn as HTML: its entities (&amp; &lt; &gt;) are HTML's already; `<…>` are its tokens."""
    blocks = re.split(r"```(.*?)```", text, flags=re.S)
    out = []
    for i, part in enumerate(blocks):
        out.append(f"<pre>{part}</pre>" if i % 2 else _inline(part))
    return "".join(out)


def _inline(text: str) -> str:
    codes: list[str] = []
    text = re.sub(r"`([^`]*)`", lambda m: codes.append(m.group(1)) or f"\x00{len(codes) - 1}\x00", text)
    text = re.sub(r"<([^<>]*)>", lambda m: _token(m.group(1)), text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    text = re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: f"<code>{codes[int(m.group(1))]}</code>", text)
    return text.replace("\n", "<br>")


def _token(inside: str) -> str:
    if inside.startswith("@"):
        return f'<span class="mention">@{USERS.get(inside[1:], inside[1:])}</span>'
    if inside.startswith("!date^"):
        stamp = datetime.fromtimestamp(int(inside.split("^")[1]), timezone.utc)
        return f"{stamp:%b} {stamp.day} at {stamp:%H:%M}"
    target, _, label = inside.partition("|")
    return f'<a href="{target}">{label or target}</a>'


def block_html(block: dict) -> str:
    if block["type"] == "section":
        return f'<div class="section">{mrkdwn(block["text"]["text"])}</div>'
    if block["type"] == "context":
        return '<div class="context">' + " ".join(mrkdwn(e.get("text", "")) for e in block["elements"]) + "</div>"
    if block["type"] == "actions":
        buttons = "".join(f'<span class="button {e.get("style", "")}">{html.escape(e["text"]["text"])}</span>'
                          for e in block["elements"])
        return f'<div class="actions">{buttons}</div>'
    return ""


def message_html(when: datetime, message: views.Message) -> str:
    body = "".join(block_html(b) for b in message.blocks) if message.blocks else \
        f'<div class="section">{mrkdwn(message.text)}</div>'
    return (f'<div class="message"><div class="avatar">🚀</div><div class="body">'
            f'<div class="who"><b>deploybot</b> <span class="app">APP</span> '
            f'<span class="time">{when:%H:%M}</span></div>{body}</div></div>')


STYLE = """
body { margin: 0; font: 15px/1.46 -apple-system, "Segoe UI", "Noto Sans", Lato, sans-serif; color: #1d1c1d;
       background: #fff; }
.header { padding: 12px 20px; border-bottom: 1px solid #ddd; font-size: 18px; }
.header b { font-weight: 800; } .header span { color: #616061; font-size: 14px; margin-left: 6px; }
.message { display: flex; padding: 10px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; display: flex;
          align-items: center; justify-content: center; font-size: 20px; flex: none; margin-right: 10px; }
.body { flex: 1; min-width: 0; }
.who b { font-weight: 900; } .app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700;
       padding: 1px 3px; border-radius: 2px; } .time { color: #616061; font-size: 12px; margin-left: 4px; }
.section { margin: 2px 0; } .context { color: #616061; font-size: 13px; margin: 4px 0; }
code { font: 12px Menlo, "DejaVu Sans Mono", monospace; color: #c01343; background: #f7f7f9;
       border: 1px solid #e1e1e8; border-radius: 3px; padding: 1px 3px; }
pre { font: 12px Menlo, "DejaVu Sans Mono", monospace; background: #f8f8f8; border: 1px solid #ddd;
      border-radius: 4px; padding: 8px; white-space: pre-wrap; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
.actions { margin: 8px 0 4px; } .button { display: inline-block; border: 1px solid #bbb; border-radius: 4px;
       padding: 3px 12px; margin-right: 8px; font-weight: 700; font-size: 13px; }
.button.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.button.danger { color: #e01e5a; border-color: #e01e5a; }
.replies { display: flex; align-items: center; color: #616061; font-size: 13px; padding: 4px 20px; }
.replies::after { content: ""; flex: 1; border-top: 1px solid #ddd; margin-left: 10px; }
"""


def page_html(messages: list[tuple[datetime, views.Message]]) -> str:
    (root_at, root), *replies = messages
    parts = [message_html(root_at, root), f'<div class="replies">{len(replies)} replies</div>']
    parts += [message_html(at, m) for at, m in replies]
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>A deploy thread</title>'
            f'<style>{STYLE}</style></head><body><div class="header"><b>Thread</b><span>#deploys</span></div>'
            + "".join(parts) + "</body></html>\n")


def screenshot(page: str, picture: Path, chromium: str) -> None:
    with tempfile.TemporaryDirectory() as work:  # the page, and a throwaway profile: nothing of the user's is read
        (Path(work) / "thread.html").write_text(page)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={work}/profile", f"--window-size={WIDTH},{HEIGHT}",
                        f"--screenshot={picture}", (Path(work) / "thread.html").as_uri()],
                       check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw docs/deploy-thread.png from the bot's real messages.")
    parser.add_argument("--html", type=Path, help="also write the page drawn, to look at it in a browser")
    args = parser.parse_args(argv)
    page = page_html(deploy_messages())
    if args.html:
        args.html.write_text(page)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print("thread_picture: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    screenshot(page, PICTURE, chromium)
    print(f"wrote {PICTURE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
