"""CMDB commands: import, export (added with the CSV feature)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
