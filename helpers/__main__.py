"""Command line: ``python -m helpers <command>``.

  server start|stop|status|restart   the local server (a real small model behind each provider's API)
  install-model                      install the offline model's weights (no heavy dependencies)
  keys                               check your API keys (masked)
  preflight [--no-local]             instructor check before a workshop (exit code 1 if something would break)
  setup [--mode auto|local|live]     what the notebooks' setup cell does, printed as a table
  workspace                          copy the exercises into my_work/ (never overwrites your files)
  learner-token <user>               a workshop hub's credential for <user> (reads COURSE_SHARED_SECRET)
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("server", help="start, stop or check the local server")
    srv.add_argument("action", choices=["start", "stop", "status", "restart"])
    srv.add_argument("--json", action="store_true", help="print the status as JSON")
    sub.add_parser("install-model", help="install the offline model with --no-deps")
    sub.add_parser("keys", help="check your API keys")
    pf = sub.add_parser("preflight", help="instructor check: keys, models, tiny requests, local mode")
    pf.add_argument("--no-local", action="store_true", help="skip the local-mode check")
    st = sub.add_parser("setup", help="choose live/local per provider and print the table")
    st.add_argument("--mode", choices=["auto", "local", "live"])
    ws = sub.add_parser("workspace", help="copy exercises into my_work/ without overwriting")
    ws.add_argument("--dest", help="folder to copy into (default: my_work/ in the course folder)")
    lt = sub.add_parser("learner-token", help="a learner's credential for a workshop's shared course server")
    lt.add_argument("user", help="the learner's name on the hub")
    args = ap.parse_args(argv)

    if args.command == "server":
        return _server(args.action, args.json)
    if args.command == "install-model":
        from .install import install_model

        return install_model()
    if args.command == "keys":
        from .keys import check_keys

        check_keys()
        return 0
    if args.command == "preflight":
        from .preflight import main as preflight_main

        return preflight_main(["--no-local"] if args.no_local else [])
    if args.command == "setup":
        from .course import setup

        setup(args.mode)
        return 0
    if args.command == "learner-token":
        import os

        from .server import learners

        try:
            print(learners.credential_for(learners.check_secret(os.environ.get(learners.SECRET_VARIABLE)), args.user))
        except ValueError as e:
            print(f"No credential: {e}.", file=sys.stderr)
            return 1
        return 0
    if args.command == "workspace":
        from .workspace import main as workspace_main

        return workspace_main(["--dest", args.dest] if args.dest else []) or 0
    return 2


def _server(action: str, as_json: bool) -> int:
    """``python -m helpers server ...``: every failure is one sentence on stderr and exit code 1, never a traceback."""
    from .server import ServerError, lifecycle

    try:
        if action in ("stop", "restart"):
            print("Stopped the local server." if lifecycle.stop() else "No course server was running.")
            if action == "stop":
                return 0
        if action in ("start", "restart"):
            lifecycle.start()
        s = lifecycle.status()
        untracked = lifecycle.untracked_servers() if action == "status" else []
    except ServerError as e:
        print(e, file=sys.stderr)
        return 1
    except OSError as e:
        verb = {"start": "started", "stop": "stopped", "status": "checked", "restart": "restarted"}[action]
        print(f"The local server could not be {verb}: "
              f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}. Check the folder in COURSE_STATE_DIR, "
              "then run `python -m helpers server restart`.", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({**s, **({"untracked": untracked} if untracked else {})}, indent=2))
    elif s["running"]:
        eng = s.get("engine") or {}
        print(f"Local server running at {s['url']} (pid {s['pid']}).")
        line = f"  model engine: {eng.get('kind', '?')} ({eng.get('model', '?')})"
        if eng.get("kind") == "fallback":
            line += f"  <- FALLBACK: {eng.get('error')}"
        elif eng.get("error") or eng.get("health") in ("hung", "dead"):
            line += f"  <- {eng.get('error') or 'not answering; the server is restarting it'}"
        print(line)
        if eng.get("threads"):
            print(f"  engine threads: {eng['threads']} (restarts so far: {eng.get('restarts', 0)})")
        print(f"  embeddings:   {eng.get('embeddings', '?')}")
        lm = s.get("lmstudio_port")
        wanted = s.get("lmstudio_port_wanted")
        print(f"  LM Studio API: http://localhost:{lm}/v1" if lm else
              f"  LM Studio API: port {wanted} was busy; use the server's own /v1 instead" if wanted else
              "  LM Studio API: not served (COURSE_LMSTUDIO_PORT=0); use the server's own /v1")
        print(f"  logs and request log: {s.get('state_dir') or lifecycle.state_dir()}")
    else:
        print(f"The local server is not running ({s['reason']}). Start it: python -m helpers server start")
    for pid in untracked if not as_json else []:
        print(f"  also running, not in the state file: a course server of this state folder (pid {pid}); "
              "`python -m helpers server restart` stops it and starts one.")
    if not s["running"]:
        return 0 if action == "status" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
