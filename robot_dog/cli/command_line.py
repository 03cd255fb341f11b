"""What every `robot-dog` command's `--help` shares: descriptions kept as written, defaults shown.

An option whose help does not already say its default gets "(default: X)" appended; flags
(default False) and options without a default (None) get nothing, as "off" needs no saying.
"""
from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is False
                or default == argparse.SUPPRESS
                or (not action.option_strings and action.nargs not in ("?", "*"))):
            return text
        if isinstance(default, (list, tuple)):
            if not default:
                return text
            default = " ".join(map(str, default))
        return f"{text} (default: {default})"
