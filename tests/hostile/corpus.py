"""The hostile-input corpus: every case, and the ones this gateway fails.

``CASES`` gathers the tables of the ``*_cases`` modules (raw HTTP/1.1 and
its framing, JSON, types and sizes); ``test_corpus.py`` sends each to a
live gateway.

``XFAIL`` is the to-do list: reason -> ids of the cases that show it. Each
reason names what is wrong now; the cases run under a strict xfail, so a
fix turns them into XPASS failures until their ids are taken out of here.
Expectations are never weakened to make a case pass.
"""

from __future__ import annotations

from collections import Counter

from . import framing_cases, http_cases, json_cases, size_cases, type_cases
from .case import Case, ids_unique

CASES: tuple[Case, ...] = tuple(
    ids_unique(
        [
            *http_cases.cases(),
            *framing_cases.cases(),
            *json_cases.cases(),
            *type_cases.cases(),
            *size_cases.cases(),
        ]
    )
)

ISSUE = "issue 12"

XFAIL: dict[str, tuple[str, ...]] = {
    # ---- raw HTTP/1.1
    (
        "Transfer-Encoding in an HTTP/1.0 request is honoured (200) instead of refused as "
        "faulty framing (400 and close)"
    ): (
        "http-te-in-http10-chat",
        "http-te-in-http10-messages",
    ),
    (
        "a malformed Transfer-Encoding (chunked not last, chunked twice, two TE headers) is "
        "answered 501 instead of 400 (the -messages cases also get the OpenAI envelope)"
    ): (
        "http-te-chunked-not-last-chat",
        "http-te-chunked-twice-chat",
        "http-te-two-headers-chat",
        "http-te-chunked-not-last-messages",
        "http-te-chunked-twice-messages",
        "http-te-two-headers-messages",
    ),
    (
        "errors found in the request head (bad Content-Length or Transfer-Encoding, bad "
        "header line) are rendered in the OpenAI envelope on Anthropic paths"
    ): (
        "http-content-length-letters-messages",
        "http-content-length-negative-messages",
        "http-content-length-decimal-messages",
        "http-content-length-plus-sign-messages",
        "http-content-length-hex-messages",
        "http-content-length-empty-messages",
        "http-content-length-inner-space-messages",
        "http-content-length-list-differing-messages",
        "http-content-length-two-differing-messages",
        "http-content-length-30-digits-messages",
        "http-te-gzip-messages",
        "http-te-gzip-then-chunked-messages",
        "http-te-identity-messages",
        "http-te-xchunked-messages",
        "http-te-space-before-colon-messages",
    ),
    (
        "a chunk size past the body limit is not refused at once: the server waits for the "
        "chunk and answers 408 when the idle timeout runs out"
    ): (
        "http-chunk-size-huge-chat",
        "http-chunk-size-huge-messages",
    ),
    (
        "obs-text (bytes 0x80-0xFF) in a header the relay forwards (anthropic-beta, "
        "anthropic-version, OpenAI-Beta) crashes the passthrough (the upstream client encodes"
        " headers as ASCII): 500"
    ): ("http-obs-text-messages-anthropic-version-passthrough",),
    ("a request line with HTTP/2.0 is served as HTTP/1.1 instead of 505"): (
        "http-request-line-http2-version",
    ),
    (
        "request targets: the absolute form (which RFC 9112 says a server MUST accept) and a "
        "target without a leading slash (400) both get 404"
    ): (
        "http-request-line-relative-target",
        "http-request-line-absolute-form",
    ),
    ("an empty line before the request line is refused (400) instead of ignored (RFC 9112 §2.2)"): (
        "http-request-line-leading-empty-line",
    ),
    # ---- types and sizes
    (
        "Chat Completions: fields carried verbatim are not checked (logit_bias, "
        "presence_penalty, frequency_penalty, logprobs, top_logprobs, modalities, "
        "service_tier, prediction, audio, verbosity, web_search_options, safety_identifier, "
        "prompt_cache_key)"
    ): (
        "chat-logit-bias-string-translated",
        "chat-logit-bias-empty-array-loopback",
        "chat-logit-bias-int-translated",
        "chat-logit-bias-50256-string-translated",
        "chat-logit-bias-50256-above-100-loopback",
        "chat-logit-bias-50256-below-minus-100-translated",
        "chat-presence-penalty-string-translated",
        "chat-presence-penalty-above-2-loopback",
        "chat-presence-penalty-below-minus-2-translated",
        "chat-frequency-penalty-string-translated",
        "chat-frequency-penalty-above-2-loopback",
        "chat-logprobs-string-translated",
        "chat-logprobs-int-loopback",
        "chat-top-logprobs-string-translated",
        "chat-top-logprobs-above-20-loopback",
        "chat-top-logprobs-negative-translated",
        "chat-modalities-string-translated",
        "chat-modalities-unknown-loopback",
        "chat-modalities-int-translated",
        "chat-service-tier-int-translated",
        "chat-service-tier-unknown-loopback",
        "chat-prediction-string-translated",
        "chat-prediction-int-loopback",
        "chat-audio-string-translated",
        "chat-audio-int-loopback",
        "chat-verbosity-unknown-translated",
        "chat-verbosity-int-loopback",
        "chat-web-search-options-string-translated",
        "chat-safety-identifier-int-translated",
        "chat-prompt-cache-key-int-translated",
    ),
    (
        "Responses: fields carried verbatim are not checked (include values, truncation, "
        "service_tier, top_logprobs, max_tool_calls, background, safety_identifier, "
        "conversation, prompt, stream_options, text.verbosity)"
    ): (
        "responses-stream-options-string-translated",
        "responses-stream-options-include-obfuscation-string-translated",
        "responses-text-verbosity-unknown-translated",
        "responses-include-unknown-translated",
        "responses-truncation-unknown-translated",
        "responses-truncation-int-loopback",
        "responses-service-tier-unknown-translated",
        "responses-service-tier-int-loopback",
        "responses-top-logprobs-string-translated",
        "responses-top-logprobs-above-20-loopback",
        "responses-max-tool-calls-string-translated",
        "responses-max-tool-calls-negative-loopback",
        "responses-background-string-translated",
        "responses-safety-identifier-int-translated",
        "responses-conversation-int-translated",
        "responses-prompt-int-translated",
    ),
    (
        "Messages: fields carried verbatim are not checked (service_tier, container, speed, "
        "inference_geo, output_config.format.type, cache_control on blocks and tools)"
    ): (
        "messages-messages-0-content-0-cache-control-string-translated",
        "messages-messages-0-content-0-cache-control-unknown-type-loopback",
        "messages-tools-0-cache-control-string-translated",
        "messages-service-tier-unknown-translated",
        "messages-service-tier-int-loopback",
        "messages-output-config-format-type-unknown-translated",
        "messages-container-int-translated",
        "messages-speed-unknown-translated",
        "messages-inference-geo-int-translated",
    ),
    (
        "documented enum values are not checked: reasoning effort and summary, image detail, "
        "image source media_type, output_config.effort"
    ): (
        "chat-messages-0-content-0-image-url-detail-unknown-translated",
        "chat-reasoning-effort-unknown-loopback",
        "messages-messages-0-content-0-source-media-type-unknown-translated",
        "messages-output-config-effort-unknown-loopback",
        "responses-input-0-content-0-detail-unknown-translated",
        "responses-reasoning-effort-unknown-loopback",
        "responses-reasoning-summary-unknown-loopback",
    ),
    (
        "unknown type tags in typed unions are carried as opaque or hosted items instead of "
        "refused (Chat tools[].type; Messages and count_tokens content blocks, tool_result "
        "content, tools[].type, thinking.type; Responses input items, tools[].type, "
        "tool_choice.type)"
    ): (
        "chat-tools-0-type-unknown-translated",
        "chat-tools-0-type-unknown-streaming-translated",
        "messages-messages-0-content-0-type-unknown-translated",
        "messages-messages-2-content-0-content-0-type-unknown-translated",
        "messages-thinking-type-unknown-translated",
        "messages-tools-0-type-unknown-translated",
        "messages-messages-0-content-0-type-unknown-streaming-translated",
        "messages-tools-0-type-unknown-streaming-translated",
        "responses-input-0-type-unknown-translated",
        "responses-tools-0-type-unknown-translated",
        "responses-tool-choice-unknown-type-loopback",
        "responses-input-0-type-unknown-streaming-translated",
        "responses-tools-0-type-unknown-streaming-translated",
        "count_tokens-messages-0-content-0-type-unknown-translated",
        "count_tokens-thinking-type-unknown-translated",
    ),
    (
        "unknown Messages metadata keys are carried instead of refused as the real API"
        " refuses them (unknown top-level fields pass on purpose: new API features must"
        " not break; they are not in this corpus)"
    ): ("messages-metadata-bogus-key-unknown-key-translated",),
    (
        "Chat Completions: function names are not checked against the documented pattern "
        "(a-z, A-Z, 0-9, _ and -) and 64-character limit"
    ): (
        "chat-tools-0-function-name-pattern-loopback",
        "chat-tools-0-function-name-too-long-translated",
    ),
    (
        "metadata limits (16 pairs, keys of at most 64 characters, values of at most 512) are"
        " not checked, nor, in Responses, that values are strings"
    ): (
        "responses-metadata-k-int-translated",
        "responses-metadata-k-empty-object-loopback",
        "chat-metadata-17-pairs-loopback",
        "chat-metadata-65-char-key-translated",
        "chat-metadata-513-char-value-loopback",
        "responses-metadata-17-pairs-loopback",
        "responses-metadata-65-char-key-translated",
        "responses-metadata-513-char-value-loopback",
    ),
    ("Responses: the ranges of temperature (0 to 2) and top_p (0 to 1) are not checked"): (
        "responses-temperature-above-2-loopback",
        "responses-temperature-below-0-translated",
        "responses-top-p-above-1-loopback",
    ),
    (
        "Responses: a missing or null input with no previous_response_id is answered as an "
        "empty conversation instead of a 400"
    ): (
        "responses-input-null-loopback",
        "responses-input-missing-translated",
    ),
    (
        "Messages: thinking.budget_tokens is not checked against its documented bounds (at "
        "least 1024, less than max_tokens)"
    ): (
        "messages-thinking-budget-tokens-below-1024-translated",
        "messages-thinking-budget-tokens-above-max-tokens-loopback",
    ),
}


def xfail_reason(case_id: str) -> str | None:
    for reason, ids in XFAIL.items():
        if case_id in ids:
            return f"{ISSUE}: {reason}"
    return None


def counts() -> Counter[str]:
    return Counter(case.category for case in CASES)
