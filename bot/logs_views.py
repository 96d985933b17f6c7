"""How an app's logs are shown in Slack: a code block when short, a file when long. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from bot.mrkdwn import escape
from bot.views import SECTION_LIMIT, Message, code, context, section
from deployer.app_logs import AppLogs, capped

# A code block fits one section; longer logs go up as a file (a snippet Slack folds and lets people expand).
INLINE_CHARS = SECTION_LIMIT - 200
FILE_CHARS = 200_000  # ~2,000 long lines: the cap says what it cut; `deploybot logs` reads more


@dataclass(frozen=True)
class LogsPost:
    """What to post for one request: `message` alone, or a file `content` with `message.text` as its comment."""

    message: Message
    content: str | None = None
    filename: str | None = None


def code_block(text: str) -> str:
    # Three backticks inside would end the block; escaped so a log line can't mention or link anyone.
    return "```\n" + escape(text).replace("```", "ʼʼʼ") + "\n```"


def heading(env_name: str, logs: AppLogs, asked_by: str | None, cut: int) -> str:
    who = f"<@{asked_by}> asked for the logs of {code(env_name)}: " if asked_by else f"Logs of {code(env_name)}: "
    what = (f"the last {len(logs.lines)} lines of {escape(logs.source)}" if logs.lines
            else f"{escape(logs.source)} is empty so far")
    return who + what + (f" ({cut} earlier lines cut to fit)" if cut else "") + "."


def logs_post(env_name: str, logs: AppLogs, asked_by: str | None = None) -> LogsPost:
    text, cut = capped(logs.text, FILE_CHARS)
    title = heading(env_name, logs, asked_by, cut)
    if len(escape(text)) <= INLINE_CHARS:
        blocks = [section(title)] + ([section(code_block(text))] if text else [])
        return LogsPost(Message(title, blocks))
    return LogsPost(Message(title), content=text, filename=f"{env_name}.log")


def logs_answer(env_name: str, logs: AppLogs) -> Message:
    """An ephemeral answer (a page of /envs): no file can be ephemeral, so the newest lines that fit."""
    text, cut = capped(logs.text, INLINE_CHARS)
    blocks = [section(heading(env_name, logs, None, cut))]
    if text:
        blocks.append(section(code_block(text)))
    if cut:
        blocks.append(context("The Logs button on the environment's card in its thread posts them all as a file."))
    return Message(heading(env_name, logs, None, cut), blocks)
