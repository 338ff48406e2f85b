"""Command line: ``python -m helpers <command>``.

  server start|stop|status|restart   the local server (a real small model behind each provider's API)
  install-model                      install the offline model's weights (no heavy dependencies)
  keys                               check your API keys (masked)
  preflight [--no-local]             instructor check before a workshop (exit code 1 if something would break)
  setup [--mode auto|local|live]     what the notebooks' setup cell does, printed as a table
  workspace                          copy the exercises into my_work/ (never overwrites your files)
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
    args = ap.parse_args(argv)

    if args.command == "server":
        from .server import ServerError, lifecycle

        if args.action in ("stop", "restart"):
            print("Stopped the local server." if lifecycle.stop() else "No course server was running.")
            if args.action == "stop":
                return 0
        if args.action in ("start", "restart"):
            try:
                lifecycle.start()
            except ServerError as e:
                print(e, file=sys.stderr)
                return 1
        s = lifecycle.status()
        if args.json:
            print(json.dumps(s, indent=2))
        elif s["running"]:
            eng = s["engine"]
            print(f"Local server running at {s['url']} (pid {s['pid']}).")
            print(f"  model engine: {eng['kind']} ({eng['model']})" +
                  (f"  <- FALLBACK: {eng['error']}" if eng["kind"] == "fallback" else ""))
            print(f"  embeddings:   {eng['embeddings']}")
            lm = s.get("lmstudio_port")
            print(f"  LM Studio API: http://localhost:{lm}/v1" if lm else
                  "  LM Studio API: port 1234 was busy; use the server's own /v1 instead")
            print(f"  logs and request log: {lifecycle.state_dir()}")
        else:
            print(f"The local server is not running ({s['reason']}). Start it: python -m helpers server start")
            return 0 if args.action == "status" else 1
        return 0
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
    if args.command == "workspace":
        from .workspace import main as workspace_main

        return workspace_main(["--dest", args.dest] if args.dest else []) or 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
