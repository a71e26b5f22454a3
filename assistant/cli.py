"""The `assistant` command line: ingest, sources, remove, follow, unfollow, feeds, refresh,
ask, chat, serve, eval.

Builds `Settings` from the environment and flags, calls the core, renders its
results, and turns every `AssistantError` into one line on stderr with a
non-zero exit. Nothing imports this module; it imports everything else.

Start-up cost is paid only by the commands that need it (`benchmarks/ask.py`
times them, `tests/test_cli.py` checks what they import):

* `--help` and a usage error end in argparse, before pydantic is imported;
* a bad setting, date filter, answerer, embedding model or reranker name is
  refused before any model or store is opened (`check_backends`);
* `sources` and `remove` open the Chroma store only: no torch, transformers,
  onnxruntime, reranker, LangChain or Gradio;
* `feeds` and `unfollow` read the feed list only; `follow`, `refresh` and
  `ingest --dry-run` fetch and extract without the answering pipeline, and `follow`/
  `refresh` open the store and embedding model only when a page is to be stored;
* `ask`/`chat` import the answering pipeline inside the handler; the embedding
  model loads when the `Assistant` is built and the reranker on its first score.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base.errors import AssistantError
from .base.phrases import EXTRACTIVE_LABEL

if TYPE_CHECKING:
    from .base.config import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; `argv=None` means the process's own command line."""
    code = _main(argv)
    if argv is None:
        # This process is about to exit: skip the collector's final pass over every
        # object of ~900 imported modules (0.3-0.4 s once chromadb is loaded). Nothing
        # is left to flush: stores commit and files close before a handler returns.
        gc.freeze()
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # --help and usage errors exit here, before any library
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    from pydantic import ValidationError

    try:
        settings = _settings(args)
        return int(args.handler(args, settings) or 0)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        print(f"error: setting {field}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _settings(args: argparse.Namespace) -> Settings:
    from .base.config import Settings

    overrides: dict[str, Any] = {}
    for name in ("data_dir", "llm", "k", "chroma_url", "collection", "embeddings"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Cited answers from a collection of news articles."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="Chroma folder (ASSISTANT_DATA_DIR)")
    common.add_argument("--chroma-url", help="Chroma server, e.g. http://127.0.0.1:8000")
    common.add_argument("--collection", help="collection name prefix (ASSISTANT_COLLECTION)")
    common.add_argument("--embeddings", help="local:all-MiniLM-L6-v2 or openai:<model>")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="add files, folders or URLs")
    p.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--dry-run", action="store_true", help="show what would be stored only")
    p.add_argument("--json", action="store_true", help="print JSON (a line an article if dry)")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("sources", parents=[common], help="list stored articles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_sources)

    p = sub.add_parser("remove", parents=[common], help="delete one article's chunks")
    p.add_argument("article_id", metavar="ID")
    p.set_defaults(handler=cmd_remove)

    p = sub.add_parser("follow", parents=[common], help="follow a feed (or a page announcing one)")
    p.add_argument("url", metavar="URL")
    p.add_argument("--every", help="refresh interval, e.g. 30m, 2h (ASSISTANT_FOLLOW_EVERY)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_follow)

    p = sub.add_parser("unfollow", parents=[common], help="stop following a feed")
    p.add_argument("url", metavar="URL")
    p.set_defaults(handler=cmd_unfollow)

    p = sub.add_parser("feeds", parents=[common], help="list followed feeds")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_feeds)

    p = sub.add_parser("refresh", parents=[common], help="one pass over every followed feed")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_refresh)

    answering = argparse.ArgumentParser(add_help=False, parents=[common])
    answering.add_argument("--llm", help="extractive | openai:<model> | llamacpp:<file.gguf>")
    answering.add_argument("-k", "--k", dest="k", type=int, help="passages to retrieve")
    answering.add_argument("--source", action="append", default=[], help="only this outlet")
    answering.add_argument("--since", help="only articles dated on/after YYYY-MM-DD")
    answering.add_argument("--until", help="only articles dated on/before YYYY-MM-DD")

    p = sub.add_parser("ask", parents=[answering], help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("chat", parents=[answering], help="a conversation in the terminal")
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("serve", parents=[answering], help="the web chat")
    p.add_argument("--host", help="default 127.0.0.1 (ASSISTANT_HOST)")
    p.add_argument("--port", type=int, help="default 7860 (ASSISTANT_PORT)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("eval", parents=[answering], help="score a question set")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, default=Path("eval-out"))
    p.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE")
    p.add_argument(
        "--gate", action="store_true", help="apply the thresholds the question file declares"
    )
    p.set_defaults(handler=cmd_eval)
    return parser


# --- ingestion --------------------------------------------------------------------------
def _progress_bar(total: int) -> Callable[[int], None]:
    if not sys.stderr.isatty():
        return lambda _n: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="chunk", desc="embedding", file=sys.stderr, leave=False)
    return lambda n: bar.update(n)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run:
        return _dry_run(args, settings)
    from .core import Assistant

    assistant = Assistant(settings, chat_model=None)
    report = assistant.ingest(
        args.inputs, report=lambda line: print(line, file=sys.stderr), progress=_progress_bar
    )
    store = assistant.store
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(report), ensure_ascii=False))
        return EXIT_FAILED if report.failed else 0
    print(report.summary())
    print(f"collection {store.name} at {store.location}: {store.count()} chunks")
    return EXIT_FAILED if report.failed else 0


def _dry_run(args: argparse.Namespace, settings: Settings) -> int:
    """Read and extract every input as ingestion would, print it, store nothing (no store
    or model is opened)."""
    from .ingest.sources import expand, load

    failed = False
    for item in expand(args.inputs):
        try:
            if isinstance(item, AssistantError):
                raise item
            loaded = load(
                item, max_bytes=int(settings.max_file_mb * 1e6), timeout=settings.fetch_timeout
            )
        except (AssistantError, OSError) as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed = True
            continue
        for line in loaded.warnings + loaded.errors:
            print(f"warning: {line}", file=sys.stderr)
        for a in loaded.articles:
            row = {"origin": a.origin, "title": a.title, "source": a.source, "date": a.date}
            row |= {"url": a.url, "text": a.text}
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(f"{a.origin}\n  {a.title}\n  {a.date}  {a.source or '-'}  {a.url}")
                print(f"  {len(a.text)} characters: {' '.join(a.text.split())[:160]}…")
    return EXIT_FAILED if failed else 0


# --- feeds ------------------------------------------------------------------------------
def cmd_follow(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.follow import follower, parse_every

    every = parse_every(args.every or settings.follow_every)  # refused before any fetch
    following = follower(settings)
    result = following.follow(args.url, every)
    _say_migrated(following.subscriptions)
    _print_results([result], args.json, wrap=False)
    return 0


def cmd_unfollow(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.follow import follower

    following = follower(settings)
    gone = following.unfollow(args.url)
    _say_migrated(following.subscriptions)
    if gone is None:
        print(f"error: {args.url}: not followed (see assistant feeds)", file=sys.stderr)
        return EXIT_FAILED
    print(f"unfollowed {args.url}; its {len(gone.articles)} articles stay stored")
    return 0


def cmd_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.subscriptions import open_subscriptions

    subscriptions = open_subscriptions(settings)
    rows = [_feed_row(s) for s in subscriptions.load().feeds]
    _say_migrated(subscriptions)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        error = f", last error: {r['last_error']}" if r["last_error"] else ""
        print(f"{r['url']}  {r['title'] or '-'}")
        print(
            f"  last fetch {r['last_fetch'] or 'never'}, next {r['next_fetch'] or 'now'}, "
            f"{r['articles']} articles{error}"
        )
    print(f"{len(rows)} feeds followed")
    return 0


def _say_migrated(subscriptions: Any) -> None:
    """The one line saying a feeds.json was moved to the Chroma server (stderr, so --json
    output stays one document)."""
    if subscriptions.notice:
        print(f"note: {subscriptions.notice}", file=sys.stderr)


def _feed_row(sub: Any) -> dict[str, Any]:
    from datetime import datetime

    def when(t: float) -> str | None:
        return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds") if t else None

    return {
        "url": sub.url,
        "feed_url": sub.feed_url,
        "title": sub.title,
        "every": sub.every,
        "last_fetch": when(sub.last_fetch),
        "next_fetch": when(sub.next_fetch),
        "articles": len(sub.articles),
        "last_error": sub.last_error,
    }


def cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.follow import follower

    following = follower(settings)
    results = following.refresh()
    _say_migrated(following.subscriptions)
    _print_results(results, args.json, wrap=True)
    return EXIT_FAILED if results and all(r.feed_failed for r in results) else 0


def _print_results(results: list[Any], as_json: bool, *, wrap: bool) -> None:
    for r in results:
        for f in r.failed:
            print(f"failed: {f['error']}", file=sys.stderr)
    if as_json:
        rows = [r.to_dict() for r in results]
        print(json.dumps({"feeds": rows} if wrap else rows[0], ensure_ascii=False, indent=2))
        return
    for r in results:
        counts = f"{r.new} new, {r.updated} updated, {r.unchanged} unchanged"
        print(f"{r.url}: {counts}, {len(r.failed)} failed")
    if wrap and not results:
        print("no feeds followed (assistant follow URL)")


def _store_only(settings: Settings) -> Any:
    from .ingest.pipeline import open_store

    return open_store(settings)


def _stale_hint(store: Any) -> str | None:
    stale = [(name, n) for name, n in store.stale_collections() if n]
    if store.count() or not stale:
        return None
    names = ", ".join(f"{name} ({n} chunks)" for name, n in stale)
    return (
        f"note: nothing is stored for the current embedding/chunking settings, but {names} "
        "holds articles ingested under other settings: re-ingest them (assistant ingest PATH)."
    )


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    store = _store_only(settings)
    articles = store.articles()
    if args.json:
        print(json.dumps([a.__dict__ for a in articles], ensure_ascii=False, indent=2))
        return 0
    if hint := _stale_hint(store):
        print(hint, file=sys.stderr)
    for a in articles:
        print(f"{a.id}  {a.date:<10}  {a.source or '-':<14}  {a.chunks:>3} chunks  {a.title}")
    print(f"{len(articles)} articles, {store.count()} chunks in {store.name}")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from .ingest.pipeline import remove_article

    removed = remove_article(_store_only(settings), args.article_id)
    if not removed:
        print(f"error: no stored article with id '{args.article_id}'", file=sys.stderr)
        return EXIT_FAILED
    print(f"removed {args.article_id} ({removed} chunks)")
    return 0


# --- answering --------------------------------------------------------------------------
def _filters(args: argparse.Namespace) -> Any:
    from .retrieval.filters import Filters

    return Filters.parse(args.source, args.since, args.until, names=("--since", "--until"))


def check_backends(settings: Settings) -> None:
    """Fail on a misspelt answerer, embedding model or reranker before anything heavy
    loads (names only: nothing is opened or imported beyond numpy)."""
    from .models.chat import CHAT_PROVIDERS
    from .models.embedders import embedding_name
    from .models.judge import check_reranker
    from .models.providers import split_spec

    split_spec(settings.llm_spec, CHAT_PROVIDERS, "answerer")
    embedding_name(settings)
    check_reranker(settings.reranker)
    check_reranker(settings.late_reranker, kind="late")


def _assistant(settings: Settings) -> Any:
    check_backends(settings)
    from .core import Assistant

    assistant = Assistant(settings)
    if hint := _stale_hint(assistant.store):
        print(hint, file=sys.stderr)
    return assistant


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    filters = _filters(args)  # a bad argument is refused before any model loads
    assistant = _assistant(settings)
    if args.json:
        answer = assistant.ask(args.question, filters=filters)
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    answer = _stream_answer(assistant, args.question, [], filters)
    _print_sources(answer)
    return 0


def _stream_answer(
    assistant: Any, question: str, history: list[tuple[str, str]], filters: Any
) -> Any:
    """Print the answer as it streams (a model's) or at once (extractive); then, when the
    verifier changed it (a fallback, removed markers), the checked text."""
    from .base.schema import Answer

    streamed = assistant.mode != "extractive"
    shown: list[str] = []
    answer = None
    for item in assistant.stream(question, history, filters):
        if isinstance(item, Answer):
            answer = item
        elif streamed:
            shown.append(item)
            print(item, end="", flush=True)
    assert answer is not None
    if streamed:
        print()
        if answer.phantom_citations:
            print(f"({answer.phantom_citations} citation(s) naming no source were removed)")
    if answer.note:
        print(f"note: {answer.note}")
    if not streamed or "".join(shown).strip() != answer.text:
        print(("\nChecked answer:\n" if streamed else "") + answer.text)
    return answer


def _print_sources(answer: Any) -> None:
    """The sources block: one entry per article, with the quoted supporting sentences."""
    if answer.refused:
        return
    if answer.mode == "extractive":
        print(f"\n{EXTRACTIVE_LABEL}")
    for sentence in answer.sentences:
        if not sentence.supported:
            print(f"  ! not supported by its sources: {sentence.text}")
    print("\nSources:")
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.date if c.date != "unknown" else "") if x)
        print(f"  [{c.n}] {c.title}" + (f" ({meta})" if meta else "") + f" {c.url}".rstrip())
        for sentence in c.sentences:
            print(f"      “{' '.join(sentence.split())}”")


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    filters = _filters(args)
    assistant = _assistant(settings)
    history: list[tuple[str, str]] = []
    print(f"Answering with: {assistant.mode}. Empty line or Ctrl-D to quit, /new to start over.")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        if question == "/new":
            history.clear()
            continue
        try:
            answer = _stream_answer(assistant, question, history, filters)
        except AssistantError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        _print_sources(answer)
        history.append((question, answer.text))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    check_backends(settings)
    from .web.app import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluate import run_eval_command

    return run_eval_command(
        settings,
        args.file,
        llm=args.llm,
        k=args.k,
        out=args.out,
        fail_under=args.fail_under,
        gate=args.gate,
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
