"""How logs are shown: a code block when short, a file when long, escaped, capped. Pure."""
from slack_sdk.models.blocks import Block

from bot.logs_views import FILE_CHARS, INLINE_CHARS, logs_answer, logs_post
from deployer.app_logs import AppLogs


def _valid(blocks: list[dict]) -> None:
    for block in blocks:
        Block.parse(block).validate_json()


def test_short_logs_are_a_code_block_that_cannot_mention_anyone_or_end_early():
    post = logs_post("tl-x", AppLogs(("GET / <!channel>", "``` done"), "the container c"), "U1")
    assert post.content is None
    assert post.message.text == "<@U1> asked for the logs of `tl-x`: the last 2 lines of the container c."
    block = post.message.blocks[1]["text"]["text"]
    assert "&lt;!channel&gt;" in block and block.count("```") == 2
    _valid(post.message.blocks)


def test_long_logs_are_a_file_named_after_the_environment_with_the_cut_said():
    lines = tuple(f"request {i:06d} " + "x" * 80 for i in range(5000))
    post = logs_post("tl-x", AppLogs(lines, "the container c"))
    assert post.filename == "tl-x.log" and post.content is not None
    assert len(post.content) <= FILE_CHARS and post.content.endswith(lines[-1])
    assert "earlier lines cut to fit" in post.message.text


def test_an_empty_log_says_so():
    post = logs_post("tl-x", AppLogs((), "the container c"))
    assert post.message.text == "Logs of `tl-x`: the container c is empty so far."


def test_an_ephemeral_answer_keeps_the_newest_lines_that_fit_one_section():
    lines = tuple(f"line {i} " + "y" * 60 for i in range(500))
    answer = logs_answer("tl-x", AppLogs(lines, "the container c"))
    assert len(answer.blocks[1]["text"]["text"]) <= INLINE_CHARS + 10 and lines[-1] in answer.blocks[1]["text"]["text"]
    assert "posts them all as a file" in answer.blocks[-1]["elements"][0]["text"]
    _valid(answer.blocks)
