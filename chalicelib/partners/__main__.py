"""API keys from the command line (the plain key is printed once, only its hash is stored).

    python -m chalicelib.partners create-key --partner 2     # a partner's key
    python -m chalicelib.partners create-key --staff         # a staff key (CRM, push notifications)
    python -m chalicelib.partners revoke-key jk_AbCdEfGh     # by the key's first 11 characters
"""

from __future__ import annotations

import argparse
import sys

from chalicelib import db
from chalicelib.partners.keys import PREFIX_CHARS, UnknownPartner, create_partner_key, create_staff_key, revoke_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.partners")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key and print it once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--partner", type=int, metavar="ID", help="partner id the key reads for")
    who.add_argument("--staff", action="store_true", help="a staff key (CRM, push notifications)")
    revoke = commands.add_parser("revoke-key", help="revoke a key by its first characters")
    revoke.add_argument("prefix", help=f"the key's first {PREFIX_CHARS} characters")
    args = parser.parse_args(argv)

    conn = db.connect()
    try:
        if args.command == "create-key":
            try:
                key = create_staff_key(conn) if args.staff else create_partner_key(conn, args.partner)
            except UnknownPartner as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(key)
            print("store it now: only its hash is kept, it cannot be shown again", file=sys.stderr)
        else:
            n = revoke_key(conn, args.prefix[: PREFIX_CHARS])
            print(f"revoked {n} key(s)")
            if n == 0:
                return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
