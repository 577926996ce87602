#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Single-use console tokens shared through a directory."""

import os
import re
import time

from zun_native_api import console_tokens


def _tokens(tmp_path, ttl=30):
    return console_tokens.ConsoleTokens(str(tmp_path / 'tokens'), ttl)


def test_a_token_redeems_once_to_its_claims(tmp_path):
    tokens = _tokens(tmp_path)
    token = tokens.issue({'kind': 'attach', 'container': 'c1'})
    assert re.match(console_tokens.TOKEN_PATTERN, token)
    # Another worker process sees the same directory.
    assert {'kind': 'attach', 'container': 'c1'} == _tokens(
        tmp_path).redeem(token)
    assert tokens.redeem(token) is None
    assert [] == os.listdir(tokens.directory)


def test_unknown_tokens_redeem_to_nothing(tmp_path):
    tokens = _tokens(tmp_path)
    tokens.issue({'kind': 'attach'})
    assert tokens.redeem('A' * 43) is None


def test_an_expired_token_redeems_to_nothing(tmp_path, monkeypatch):
    tokens = _tokens(tmp_path, ttl=5)
    token = tokens.issue({'kind': 'exec'})
    later = time.time() + 6
    monkeypatch.setattr(time, 'time', lambda: later)
    assert tokens.redeem(token) is None


def test_tokens_nobody_redeemed_are_swept_at_the_next_issue(tmp_path):
    tokens = _tokens(tmp_path, ttl=5)
    tokens.issue({'kind': 'exec'})
    (stale,) = os.listdir(tokens.directory)
    old = time.time() - 60
    os.utime(os.path.join(tokens.directory, stale), (old, old))
    fresh = tokens.issue({'kind': 'attach'})
    assert 1 == len(os.listdir(tokens.directory))
    assert {'kind': 'attach'} == tokens.redeem(fresh)


def test_the_directory_is_private(tmp_path):
    tokens = _tokens(tmp_path)
    tokens.issue({})
    assert 0o700 == os.stat(tokens.directory).st_mode & 0o777


def test_console_slots_are_counted_per_host(tmp_path):
    directory = str(tmp_path / 'tokens')
    # Two worker processes (or threads) of one host: one directory.
    first, second = (console_tokens.ConsoleSlots(directory, 2)
                     for _ in range(2))
    held = [first.take(), second.take()]
    assert None not in held
    assert first.take() is None and second.take() is None
    first.give_back(held.pop())
    held.append(second.take())
    assert None not in held
    for slot in held:
        first.give_back(slot)


def test_the_token_sweep_leaves_the_console_slots(tmp_path):
    tokens = _tokens(tmp_path, ttl=0)
    slots = console_tokens.ConsoleSlots(tokens.directory, 1)
    slot = slots.take()
    stale = time.time() - 60
    for name in os.listdir(tokens.directory):
        os.utime(os.path.join(tokens.directory, name), (stale, stale))
    tokens.issue({'kind': 'attach'})  # sweeps
    assert slots.take() is None
    slots.give_back(slot)
