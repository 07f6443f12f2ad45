#!/usr/bin/env python3
"""The man pages (docs/man/*.scd, rendered by the `man` target) against the code:
  * each page renders with groff (tbl, man macros) and with man(1) without a warning;
  * pathsteer(8) names every command and option of `pathsteer --help`, and --help lists every
    command that cli/pathsteer.cpp dispatches (except the hidden `__complete`);
  * pathsteerd(8) names every option of `pathsteerd --help`, and --help lists every option
    that daemon/pathsteerd.cpp parses;
  * pathsteer-policy(5) names every key the policy parser accepts (the k...Keys lists of
    controller/policy*.cpp), every strategy, last_resort and datapath mode.
usage: test_man.py MAN_DIR PATHSTEER PATHSTEERD SOURCE_DIR"""

import glob
import os
import re
import subprocess
import sys
import unittest

MAN_DIR, PATHSTEER, PATHSTEERD, SOURCE_DIR = sys.argv[1:5]
del sys.argv[1:5]
PAGES = {"pathsteerd": "pathsteerd.8", "pathsteer": "pathsteer.8",
         "policy": "pathsteer-policy.5"}


def page_path(key):
    return os.path.join(MAN_DIR, PAGES[key])


def render(key):
    """The page as text, one long line per paragraph piece, hyphenation undone."""
    env = dict(os.environ, MANWIDTH="250", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    proc = subprocess.run(["man", "-l", page_path(key)], capture_output=True, text=True,
                          env=env, timeout=60)
    if proc.returncode != 0 or proc.stderr:
        raise AssertionError(f"man -l {PAGES[key]}: rc {proc.returncode}: {proc.stderr}")
    text = re.sub(r".\x08", "", proc.stdout)  # overstrike bold/underline
    return re.sub(r"[\u2010-]\n\s*", "-", text)


def source(rel):
    with open(os.path.join(SOURCE_DIR, rel)) as f:
        return f.read()


def usage(binary):
    proc = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{binary} --help exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


class Render(unittest.TestCase):

    def test_groff_without_warnings(self):
        for key, name in PAGES.items():
            with self.subTest(page=name):
                proc = subprocess.run(["groff", "-t", "-man", "-ww", "-z", "-Tutf8",
                                       page_path(key)], capture_output=True, text=True)
                self.assertEqual((proc.returncode, proc.stderr), (0, ""), name)

    def test_man_renders_the_sections(self):
        for key, name in PAGES.items():
            with self.subTest(page=name):
                text = render(key)
                for section in ("NAME", "DESCRIPTION", "SEE ALSO"):
                    self.assertRegex(text, rf"(?m)^{section}$", name)
                self.assertNotIn("@VERSION@", text)


class Pathsteer(unittest.TestCase):

    def test_every_dispatched_command_is_in_the_usage(self):
        help_text = usage(PATHSTEER)
        dispatched = set(re.findall(r'cmd == "([a-z_-]+)"', source("cli/pathsteer.cpp")))
        self.assertGreaterEqual(len(dispatched), 7)
        for cmd in sorted(dispatched - {"__complete"}):
            with self.subTest(command=cmd):
                self.assertRegex(help_text, rf"(?m)^(usage:)? +pathsteer .*(?<![\w-]){re.escape(cmd)}\b")

    def test_every_command_and_option_of_the_usage_is_in_the_page(self):
        help_text = usage(PATHSTEER)
        text = render("pathsteer")
        commands = set()
        for line in help_text.splitlines():
            m = re.match(r"^(?:usage:)? +pathsteer ((?:[a-z]+ ?)+)", line)
            if m:
                commands.add(m.group(1).strip())
        self.assertIn("intent add", commands)
        self.assertIn("policy diff", commands)
        for cmd in sorted(commands):
            with self.subTest(command=cmd):
                self.assertIn(f"pathsteer {cmd}", text)
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-h)\b", help_text))
        self.assertIn("--token-file", options)
        for opt in sorted(options):
            with self.subTest(option=opt):
                self.assertRegex(text, rf"(?<![\w-]){re.escape(opt)}(?![\w-])")


class Pathsteerd(unittest.TestCase):

    def test_every_parsed_option_is_in_the_usage(self):
        help_text = usage(PATHSTEERD)
        parsed = set(re.findall(r'a == "(--?[a-z-]+)"', source("daemon/pathsteerd.cpp")))
        self.assertIn("--policy", parsed)
        for opt in sorted(parsed):
            with self.subTest(option=opt):
                self.assertRegex(help_text, rf"(?<![\w-]){re.escape(opt)}(?![\w-])")

    def test_every_option_is_in_the_page(self):
        help_text = usage(PATHSTEERD)
        text = render("pathsteerd")
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))
        self.assertGreaterEqual(len(options), 12)
        options_section = text.split("\nOPTIONS\n", 1)[1].split("\nSIGNALS\n", 1)[0]
        for opt in sorted(options):
            with self.subTest(option=opt):
                # Described as a term of OPTIONS (a line of its own that starts with it).
                self.assertRegex(options_section, rf"(?m)^ +(\S+, )?{re.escape(opt)}(?![\w-])")


class Policy(unittest.TestCase):

    def test_every_key_and_choice_is_in_the_page(self):
        text = render("policy")
        code = "".join(source(os.path.relpath(p, SOURCE_DIR))
                       for p in sorted(glob.glob(os.path.join(SOURCE_DIR, "controller",
                                                              "policy*.cpp"))))
        code += source("controller/policy_parse.h") + source("model/match.h")
        words = set()
        for body in re.findall(r"k\w*(?:Keys|Names)\[\] = \{([^}]*)\}", code):
            words |= set(re.findall(r'"([^"]+)"', body))
        self.assertGreaterEqual(len(words), 40)
        for word in ("recover_if", "lowest-latency", "blackhole", "redirect", "uid"):
            self.assertIn(word, words)
        for word in sorted(words):
            with self.subTest(word=word):
                self.assertRegex(text, rf"(?<![\w-]){re.escape(word)}(?![\w-])")


if __name__ == "__main__":
    unittest.main(verbosity=2)
