"""`empathic sessions list|forget ID`: the sessions stored on this computer (only ever with "store" consent), and
deleting one completely."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "forget"), help="list the stored sessions, or forget (delete) one")
    parser.add_argument("session_id", nargs="?", default=None, help="the session to forget")
    parser.add_argument("--data-dir", default=None,
                        help="where sessions are stored (default: $EMPATHIC_DATA_DIR, else "
                             "~/.local/share/empathic/sessions)")


def run(args: argparse.Namespace) -> int:
    from ui.recorder import data_dir, forget_session, list_sessions

    root = data_dir(args.data_dir)
    if args.action == "list":
        if args.session_id:
            raise ValueError("`sessions list` takes no session id")
        sessions = list_sessions(root)
        if not sessions:
            print(f"no stored sessions in {root}")
        for s in sessions:
            length = f"{s.duration_s:.1f} s" if isinstance(s.duration_s, (int, float)) else "length unknown"
            note = f"  ({s.problem})" if s.problem else ""
            print(f"{s.session_id}  {s.created_utc or '-'}  {length}  {s.size_bytes / 1024:.0f} kB  "
                  f"{','.join(s.files)}{note}")
        return 0
    if not args.session_id:
        raise ValueError("`sessions forget` needs the id of the session (see `empathic sessions list`)")
    if not forget_session(root, args.session_id):
        raise ValueError(f"no session {args.session_id!r} in {root}")
    print(f"forgot {args.session_id}: deleted from {root}")
    return 0
