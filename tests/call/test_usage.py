"""The one usage rule, and the meters that feed it from events and relayed bytes."""

from __future__ import annotations

from tokligence.call.usage import EventMeter, RelayMeter, settle
from tokligence.canonical import (
    Finish,
    MessageStart,
    Request,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from tokligence.codecs.usage_sniff import responses_usage
from tokligence.fronts.registry import FRONTS

REPORTED = Usage(input_tokens=10, output_tokens=20)
GUESS = Usage(input_tokens=7, output_tokens=3, estimated=True)


def request() -> Request:
    return FRONTS["openai_chat"].parse_object(
        {"model": "m", "messages": [{"role": "user", "content": "one two three four"}]}
    )


def test_a_complete_report_with_output_is_taken_as_is() -> None:
    assert settle(REPORTED, complete=True, estimate=lambda: GUESS) == REPORTED


def test_nothing_reported_is_the_flagged_estimate() -> None:
    assert settle(None, complete=True, estimate=lambda: GUESS) == GUESS


def test_an_unfinished_answer_lays_the_report_over_the_estimate() -> None:
    input_only = Usage(input_tokens=10)
    assert settle(input_only, complete=False, estimate=lambda: GUESS) == Usage(
        input_tokens=10, output_tokens=3, estimated=True
    )
    assert settle(REPORTED, complete=False, estimate=lambda: GUESS) == Usage(
        input_tokens=10, output_tokens=20, estimated=True
    )


def test_a_report_without_output_is_not_trusted_for_output() -> None:
    input_only = Usage(input_tokens=10)
    assert settle(input_only, complete=True, estimate=lambda: GUESS) == Usage(
        input_tokens=10, output_tokens=3, estimated=True
    )


def test_the_estimate_is_made_only_when_needed() -> None:
    def boom() -> Usage:
        raise AssertionError("estimated a complete report")

    assert settle(REPORTED, complete=True, estimate=boom) == REPORTED


def test_event_meter_reads_reports_completion_and_errors() -> None:
    meter = EventMeter(request())
    meter.observe(MessageStart(id="r", model="m", created=0, usage=Usage(input_tokens=12)))
    meter.observe(TextDelta(text="hello there"))
    assert not meter.complete
    cut = meter.usage()
    assert cut.estimated and cut.input_tokens == 12 and cut.output_tokens > 0
    meter.observe(UsageUpdate(usage=Usage(output_tokens=5)))
    meter.observe(Finish(stop_reason="end_turn"))
    assert meter.complete and meter.error is None
    assert meter.usage() == Usage(input_tokens=12, output_tokens=5)


def test_event_meter_estimates_text_and_tool_arguments() -> None:
    meter = EventMeter(request())
    meter.observe(ToolCallDelta(index=0, arguments='{"path": "a/long/file/name.txt"}'))
    meter.observe(StreamError(kind="overloaded", message="busy"))
    usage = meter.usage()
    assert usage.estimated and usage.input_tokens > 0 and usage.output_tokens > 0
    assert meter.error == "overloaded"


def test_relay_meter_has_no_usage_before_an_answer_was_relayed() -> None:
    meter = RelayMeter("openai_responses", responses_usage, lambda: 99)
    assert meter.usage() is None


def test_relay_meter_counts_a_cut_stream_by_its_events() -> None:
    meter = RelayMeter("openai_responses", responses_usage, lambda: 99)
    sniffer = meter.start(stream=True)
    sniffer.feed(b'event: response.output_text.delta\ndata: {"delta":"a"}\n\n' * 4)
    assert meter.usage() == Usage(input_tokens=99, output_tokens=4, estimated=True)


def test_relay_meter_takes_a_whole_bodys_report() -> None:
    meter = RelayMeter("openai_responses", responses_usage, lambda: 99)
    meter.start(stream=False).feed(b'{"usage":{"input_tokens":8,"output_tokens":2}}')
    assert meter.usage() == Usage(input_tokens=8, output_tokens=2)
