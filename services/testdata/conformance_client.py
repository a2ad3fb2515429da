"""Drives the Go CONFORMANCE service (shared/conformance/SERVICE.md) with the
real Python rpyc client. Run by services/conformance_test.go:

    /usr/bin/python3 conformance_client.py PORT [SERVER_PID] [-k PATTERN]

Every test is named after the member it checks (test_<member>_...), so a
failure names the member. Exits non-zero when any test fails.
"""

import builtins
import gc
import math
import random
import socket
import struct
import sys
import threading
import time
import unittest
import zlib

import rpyc
from rpyc.core import brine, consts
from rpyc.core.async_ import AsyncResult, AsyncResultTimeout
from rpyc.core.vinegar import GenericException

HOST = "127.0.0.1"
PORT = 0
SERVER_PID = 0

BUILTIN_ERRORS = [
    "ValueError", "KeyError", "TypeError", "IndexError", "RuntimeError",
    "AttributeError", "NotImplementedError", "ZeroDivisionError", "OSError",
    "StopIteration",
]


def connect(**kw):
    return rpyc.connect(HOST, PORT, **kw)


def same(a, b):
    """Deep equality that also compares types exactly and handles nan,
    -0.0 and the unordered frozensets."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, slice):
        return same(a.start, b.start) and same(a.stop, b.stop) and same(a.step, b.step)
    return a == b


def raw_request(conn, handler, boxed_args, timeout=10):
    """Sends a request whose boxed arguments are written by hand (so that a
    reference the client no longer holds can be sent) and returns the
    reply value, raising what the server raised."""
    res = AsyncResult(conn)
    seq = conn._get_seq_id()
    conn._request_callbacks[seq] = res
    conn._send(consts.MSG_REQUEST, seq, (handler, boxed_args))
    res.set_expiry(timeout)
    return res.value


def peek_messages(sock):
    """The (msg, seq) of every whole frame waiting in sock, left unread."""
    buf = sock.recv(1 << 20, socket.MSG_PEEK)
    out = []
    header = struct.Struct("!LB")
    while len(buf) >= header.size:
        length, compressed = header.unpack_from(buf)
        end = header.size + length + 1
        if len(buf) < end:
            break
        data = buf[header.size:header.size + length]
        if compressed:
            data = zlib.decompress(data)
        msg, seq, _ = brine.load(data)
        out.append((msg, seq))
        buf = buf[end:]
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.conn = connect()
        self.root = self.conn.root

    def tearDown(self):
        try:
            self.conn.close()
        except Exception:
            pass

    def assertRemote(self, cm, name, args=None):
        """The exception caught by cm is the builtin class name itself (or
        rpyc's subclass of it), not a GenericException, with args."""
        e = cm.exception
        builtin = getattr(builtins, name)
        self.assertEqual(type(e).__name__, name)
        self.assertFalse(isinstance(e, GenericException), "arrived as GenericException")
        self.assertTrue(isinstance(e, builtin))
        self.assertTrue(type(e) is builtin or type(e).__bases__[0] is builtin,
                        f"direct base of {type(e)!r} is {type(e).__bases__!r}")
        if args is not None:
            self.assertEqual(e.args, args)


class TestNames(Base):
    def test_get_service_name(self):
        self.assertEqual(self.root.get_service_name(), "CONFORMANCE")
        self.assertEqual(self.root.exposed_get_service_name(), "CONFORMANCE")

    def test_get_service_aliases(self):
        a = self.root.get_service_aliases()
        self.assertIs(type(a), tuple)
        self.assertEqual(a, ("CONFORMANCE", "CONF"))
        self.assertEqual(self.root.exposed_get_service_aliases(), ("CONFORMANCE", "CONF"))

    def test_version(self):
        v = self.root.version
        self.assertIs(type(v), str)
        self.assertTrue(v)


ECHO_VALUES = [
    None, True, False, Ellipsis, NotImplemented,
    0, 1, -1, 159, 160, -48, -49, 255, 256, 2**31, 2**31 - 1, 2**63 - 1, 2**63,
    -2**63, -2**63 - 1, 2**64, 2**100, -2**70, 10**300, -(10**1000),
    0.0, -0.0, 1.5, -2.25, 1e308, -1e-308, 5e-324, float("inf"), float("-inf"),
    float("nan"), 0.1,
    complex(1, 2), complex(-0.0, float("inf")), complex(0, 0), 1j,
    "", "a", "hello world", "héllo wörld ✓ 🐍 中文 \x00 \u200b", "x" * 100000,
    b"", b"\x00", b"\xff\xfe", bytes(range(256)), b"y" * 70000,
    slice(1, 2, 3), slice(None, 5, None), slice("a", 2.5, (1,)), slice(None),
    (), (1,), (1, 2), (1, 2, 3, 4), tuple(range(300)),
    (1, (2, (3, (4, (5, ()))))), (None, ..., b"x", "y", 1.5, 2**80),
    frozenset(), frozenset({1, 2, 3}), frozenset({"a", (1, 2), b"b", None}),
    (frozenset({frozenset({1}), 2}), slice(1, 2), (True, False), (frozenset(),)),
]


class TestEcho(Base):
    def test_echo_values(self):
        for v in ECHO_VALUES:
            with self.subTest(value=repr(v)[:60]):
                r = self.root.echo(v)
                self.assertTrue(same(r, v), f"echo({v!r:.80}) returned {r!r:.80}")

    def test_echo_large_payloads(self):
        # Random bytes: Python compresses them anyway (its frame grows), the
        # Go server serves echo inline from the frame and answers raw (flag
        # 0) since zlib cannot shrink them; text: compressed both ways. A
        # random first part with a compressible rest, and a str.
        rnd = random.Random(5)
        noise = bytes(rnd.getrandbits(8) for _ in range(100000))
        for v in (noise, b"abc" * 40000, noise[:5000] + b"z" * 60000,
                  noise.hex(), "\u00e9" * 50000, (noise, b"q" * 4000, 7)):
            with self.subTest(kind=type(v).__name__, n=len(v)):
                self.assertTrue(same(self.root.echo(v), v))
        # A large argument next to a reference to a client object: the
        # server must not serve it from the frame (the proxy would outlive
        # it) and still answers.
        lst = [1, 2]
        r = self.root.echo((noise, lst))
        self.assertEqual(r[0], noise)
        self.assertIs(r[1], lst)

    def test_echo_float_signs(self):
        r = self.root.echo(-0.0)
        self.assertEqual(math.copysign(1.0, r), -1.0)
        self.assertTrue(math.isnan(self.root.echo(float("nan"))))
        self.assertEqual(self.root.echo(float("-inf")), float("-inf"))

    def test_echo_identity_of_client_objects(self):
        lst = [1, 2, 3]
        self.assertIs(self.root.echo(lst), lst)
        d = {"k": [1]}
        self.assertIs(self.root.echo(d), d)
        f = lambda: 1  # noqa: E731
        self.assertIs(self.root.echo(f), f)
        t = (lst, 1, (d, "x"))
        r = self.root.echo(t)
        self.assertIs(type(r), tuple)
        self.assertIs(r[0], lst)
        self.assertEqual(r[1], 1)
        self.assertIs(r[2][0], d)
        self.assertEqual(r[2][1], "x")

    def test_echo_identity_of_server_objects(self):
        c = self.root.Counter(3)
        self.assertIs(self.root.echo(c), c)
        m = self.root.mapping()
        self.assertIs(self.root.echo(m), m)
        r = self.root.echo((c, m))
        self.assertIs(r[0], c)
        self.assertIs(r[1], m)


class TestAdd(Base):
    def test_add_ints(self):
        cases = [(1, 2), (0, 0), (-5, 3), (2**63 - 1, 1), (-2**63, -1), (2**64, 1),
                 (2**100, -2**100), (2**100, 2**100), (-2**70, 5), (10**400, 10**400)]
        rnd = random.Random(7)
        for _ in range(200):
            bits = rnd.choice([8, 62, 63, 64, 65, 200])
            cases.append((rnd.randint(-2**bits, 2**bits), rnd.randint(-2**bits, 2**bits)))
        for a, b in cases:
            with self.subTest(a=a, b=b):
                r = self.root.add(a, b)
                self.assertIs(type(r), int)
                self.assertEqual(r, a + b)

    def test_add_floats(self):
        for a, b in [(1.5, 2.25), (0.1, 0.2), (-0.0, -0.0), (1e308, 1e308), (1, 0.5),
                     (0.5, 1), (2**1000, 1.0), (2**63 + 1, 0.0), (-7, -0.0)]:
            with self.subTest(a=a, b=b):
                r = self.root.add(a, b)
                self.assertTrue(same(r, a + b), f"{r!r} != {a + b!r}")
        self.assertTrue(math.isnan(self.root.add(float("inf"), float("-inf"))))

    def test_add_str_bytes(self):
        self.assertEqual(self.root.add("ab", "cd"), "abcd")
        self.assertEqual(self.root.add("é", "🐍"), "é🐍")
        self.assertEqual(self.root.add("", ""), "")
        r = self.root.add(b"ab", b"\x00\xff")
        self.assertIs(type(r), bytes)
        self.assertEqual(r, b"ab\x00\xff")

    def test_add_type_errors(self):
        for a, b in [(True, 1), (1, True), (True, False), (False, 1.5), ("a", 1), (1, "a"),
                     (b"a", "a"), ("a", b"a"), (None, None), ((1,), (2,)), ([1], [2]),
                     (1, None), (1j, 1), (frozenset(), frozenset())]:
            with self.subTest(a=a, b=b):
                with self.assertRaises(TypeError) as cm:
                    self.root.add(a, b)
                self.assertRemote(cm, "TypeError")

    def test_add_overflow_to_float(self):
        with self.assertRaises(OverflowError):
            self.root.add(10**400, 1.0)


class TestDivide(Base):
    def test_divide_exact_rounding(self):
        cases = [(1, 2), (10**30, 3), (1, 3), (2, 3), (-7, 2), (7, -2), (0, 5), (2**53 + 1, 1),
                 (2**64 + 1, 3), (10**400, 10**390), (1, 10**310), (-1, 10**320), (3, 10**330),
                 (2**1023, 1), (2**1024 - 1, 2), ((2**53 + 1) * 2**970, 2**970), (10**20, 10**19 + 1)]
        rnd = random.Random(11)
        for _ in range(300):
            bits = rnd.choice([10, 53, 54, 64, 100, 300])
            a = rnd.randint(-2**bits, 2**bits)
            b = 0
            while b == 0:
                b = rnd.randint(-2**rnd.choice([3, 53, 70, 200]), 2**60)
            cases.append((a, b))
        for a, b in cases:
            with self.subTest(a=a, b=b):
                r = self.root.divide(a, b)
                self.assertIs(type(r), float)
                self.assertTrue(same(r, a / b), f"{r!r} != {a / b!r}")

    def test_divide_floats(self):
        for a, b in [(1.0, 3), (7, 2.0), (-0.0, 5), (1.5, -0.5), (1e308, 1e-10), (0.0, -1.0),
                     (float("inf"), 2)]:
            with self.subTest(a=a, b=b):
                self.assertTrue(same(self.root.divide(a, b), a / b))

    def test_divide_zero(self):
        for a, b in [(1, 0), (0, 0), (1.0, 0), (1, 0.0), (2**100, 0), (1.5, -0.0)]:
            with self.subTest(a=a, b=b):
                with self.assertRaises(ZeroDivisionError) as cm:
                    self.root.divide(a, b)
                self.assertRemote(cm, "ZeroDivisionError")

    def test_divide_type_errors(self):
        for a, b in [("a", 1), (1, "2"), (None, 1), (1, None), ((1,), 1), (b"1", 1), ([1], 2)]:
            with self.subTest(a=a, b=b):
                with self.assertRaises(TypeError) as cm:
                    self.root.divide(a, b)
                self.assertRemote(cm, "TypeError")

    def test_divide_overflow(self):
        with self.assertRaises(OverflowError):
            self.root.divide(2**1100, 3)


class TestRaiseError(Base):
    def test_raise_error_builtins(self):
        for name in BUILTIN_ERRORS:
            with self.subTest(name=name):
                msg = f"message for {name} é"
                builtin = getattr(builtins, name)
                with self.assertRaises(builtin) as cm:
                    self.root.raise_error(name, msg)
                self.assertRemote(cm, name, () if name == "StopIteration" else (msg,))

    def test_raise_error_catch_by_name(self):
        try:
            self.root.raise_error("KeyError", "k")
        except KeyError as e:
            self.assertEqual(e.args, ("k",))
        else:
            self.fail("no KeyError")
        try:
            self.root.raise_error("OSError", "disk")
        except OSError as e:
            self.assertEqual(e.args, ("disk",))
        else:
            self.fail("no OSError")

    def test_raise_error_unknown_names(self):
        for name in ["Exception", "SystemExit", "KeyboardInterrupt", "BaseException",
                     "GeneratorExit", "valueerror", "", "FooError", "LookupError",
                     "FileNotFoundError", "builtins.ValueError", " ValueError"]:
            with self.subTest(name=name):
                with self.assertRaises(ValueError) as cm:
                    self.root.raise_error(name, "m")
                self.assertRemote(cm, "ValueError")

    def test_raise_error_connection_survives(self):
        for name in BUILTIN_ERRORS:
            try:
                self.root.raise_error(name, "x")
            except BaseException:
                pass
        self.assertEqual(self.root.echo(5), 5)


class TestCall(Base):
    def test_call_args_kwargs(self):
        def f(a, b=0, *rest, **kw):
            return (a, b, rest, tuple(sorted(kw.items())))
        self.assertEqual(self.root.call(f, 1), (1, 0, (), ()))
        self.assertEqual(self.root.call(f, 1, 2, 3, x=4, y="z"), (1, 2, (3,), (("x", 4), ("y", "z"))))
        self.assertEqual(self.root.call(f, a=9), (9, 0, (), ()))
        self.assertIsNone(self.root.call(lambda: None))

    def test_call_returns_reference(self):
        lst = [1]
        self.assertIs(self.root.call(lambda: lst), lst)

    def test_call_exception_propagates(self):
        def boom(cls, msg):
            raise cls(msg)
        for cls in (KeyError, ValueError, IndexError, RuntimeError, LookupError, PermissionError):
            with self.subTest(cls=cls.__name__):
                with self.assertRaises(cls) as cm:
                    self.root.call(boom, cls, "bad")
                self.assertRemote(cm, cls.__name__, ("bad",))
        self.assertEqual(self.root.echo(1), 1)

    def test_call_callback_calls_back_into_go(self):
        root = self.root
        self.assertEqual(root.call(lambda x: root.add(x, 1), 41), 42)

        def deep(n):
            return 0 if n == 0 else root.call(deep, n - 1) + 1
        self.assertEqual(root.call(deep, 6), 6)

    def test_call_server_callable(self):
        # A callable of the server's own, handed back to it.
        self.assertEqual(self.root.call(self.root.add, 2, 3), 5)


class TestMap(Base):
    def test_map(self):
        self.assertEqual(self.root.map(lambda x: x * 2, (1, 2, 3)), (2, 4, 6))
        self.assertEqual(self.root.map(str, (1, "a", None)), ("1", "a", "None"))
        self.assertEqual(self.root.map(lambda x: x, ()), ())

    def test_map_exception(self):
        def f(x):
            if x == 2:
                raise IndexError("two")
            return x
        with self.assertRaises(IndexError) as cm:
            self.root.map(f, (1, 2, 3))
        self.assertRemote(cm, "IndexError", ("two",))


class TestSum(Base):
    def test_sum(self):
        cases = [
            ([1, 2, 3], 6),
            ((x for x in range(10)), 45),
            (range(100), 4950),
            ({1: "a", 2: "b", 40: "c"}.keys(), 43),
            ((1, 2, 3), 6),
            ((1, 2.5), 3.5),
            ([2**64, 2**64, -1], 2**65 - 1),
            ([0.5, 0.25], 0.75),
            ([], 0),
            ((), 0),
            (iter([7, 8]), 15),
            ({5, 6}, 11),
        ]
        for it, want in cases:
            with self.subTest(it=type(it).__name__):
                r = self.root.sum(it)
                self.assertTrue(same(r, want), f"{r!r} != {want!r}")

    def test_sum_type_error(self):
        with self.assertRaises(TypeError):
            self.root.sum(["a", "b"])
        with self.assertRaises(TypeError):
            self.root.sum(5)

    def test_sum_iteration_error(self):
        def gen():
            yield 1
            raise KeyError("gen")
        with self.assertRaises(KeyError):
            self.root.sum(gen())


class TestLength(Base):
    def test_length(self):
        cases = [("héllo", 5), ("🐍", 1), ("", 0), ("中文字", 3), (b"abc", 3), (b"", 0),
                 ((1, 2, 3), 3), ((), 0), (frozenset({1, 2}), 2), ([1, 2, 3, 4], 4),
                 ({"a": 1}, 1), (range(10), 10), ({1, 2, 3}, 3), ("x" * 5000, 5000)]
        for v, want in cases:
            with self.subTest(v=repr(v)[:40]):
                self.assertEqual(self.root.length(v), want)

    def test_length_server_object(self):
        self.assertEqual(self.root.length(self.root.mapping()), 3)

    def test_length_type_error(self):
        for v in (5, None, 1.5):
            with self.subTest(v=v):
                with self.assertRaises(TypeError):
                    self.root.length(v)


class TestKwargs(Base):
    def test_kwargs_sorted(self):
        kw = {"b": 1, "a": 2, "é": 3, "Z": 4, "_": 5, "aa": (1, 2), "ü": None}
        r = self.root.kwargs(**kw)
        self.assertIs(type(r), tuple)
        self.assertEqual(r, tuple(sorted(kw.items())))

    def test_kwargs_empty(self):
        self.assertEqual(self.root.kwargs(), ())

    def test_kwargs_reference_value(self):
        lst = []
        r = self.root.kwargs(x=lst)
        self.assertEqual(r[0][0], "x")
        self.assertIs(r[0][1], lst)


class TestSleep(Base):
    def test_sleep_returns_argument(self):
        self.assertTrue(same(self.root.sleep(0.05), 0.05))
        self.assertTrue(same(self.root.sleep(0), 0))

    def test_sleep_two_connections_concurrently(self):
        t0 = time.monotonic()
        results = []

        def worker():
            c = connect()
            try:
                results.append(c.root.sleep(1.0))
            finally:
                c.close()
        ths = [threading.Thread(target=worker) for _ in range(2)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(10)
        elapsed = time.monotonic() - t0
        self.assertEqual(results, [1.0, 1.0])
        self.assertLess(elapsed, 1.8, "sleeps on two connections were serialized")

    def test_sleep_same_connection_async(self):
        bg = rpyc.BgServingThread(self.conn)
        try:
            t0 = time.monotonic()
            a1 = rpyc.async_(self.root.sleep)(1.0)
            a2 = rpyc.async_(self.root.sleep)(1.0)
            # Another request is answered while both sleeps are pending.
            self.assertEqual(self.root.echo("fast"), "fast")
            self.assertLess(time.monotonic() - t0, 0.8, "echo waited for sleep")
            a1.wait()
            a2.wait()
            self.assertEqual((a1.value, a2.value), (1.0, 1.0))
            self.assertLess(time.monotonic() - t0, 1.8, "sleeps on one connection were serialized")
        finally:
            bg.stop()


class TestBlob(Base):
    def test_blob(self):
        for n in (0, 1, 10, 255, 256, 257, 3000, 100000, 1 << 20):
            with self.subTest(n=n):
                b = self.root.blob(n)
                self.assertIs(type(b), bytes)
                self.assertEqual(b, bytes(i % 256 for i in range(n)))

    def test_blob_negative(self):
        with self.assertRaises(ValueError) as cm:
            self.root.blob(-1)
        self.assertRemote(cm, "ValueError")


class TestCounter(Base):
    def test_counter(self):
        c = self.root.Counter()
        self.assertEqual(c.value, 0)
        self.assertEqual(c.incr(), 1)
        self.assertEqual(c.incr(5), 6)
        self.assertEqual(c.incr(by=2), 8)
        self.assertEqual(c.value, 8)
        self.assertEqual(str(c), "Counter(8)")
        self.assertIsNone(c.reset())
        self.assertEqual(c.value, 0)
        self.assertEqual(str(c), "Counter(0)")

    def test_counter_start(self):
        self.assertEqual(self.root.Counter(5).value, 5)
        self.assertEqual(self.root.Counter(start=7).value, 7)
        c = self.root.Counter(2**70)
        self.assertEqual(c.incr(), 2**70 + 1)
        c = self.root.Counter(2**63 - 1)
        self.assertEqual(c.incr(), 2**63)
        self.assertEqual(c.incr(-1), 2**63 - 1)

    def test_counter_independent(self):
        a, b = self.root.Counter(), self.root.Counter(10)
        a.incr()
        self.assertEqual((a.value, b.value), (1, 10))

    def test_counter_denied(self):
        c = self.root.Counter()
        with self.assertRaises(AttributeError):
            c.value = 5
        self.assertFalse(hasattr(c, "secret"))


class TestMapping(Base):
    def test_mapping(self):
        m = self.root.mapping()
        self.assertEqual(m["a"], 1)
        self.assertEqual(m["c"], 3)
        self.assertEqual(len(m), 3)
        self.assertIn("a", m)
        self.assertNotIn("z", m)
        self.assertEqual(list(m), ["a", "b", "c"])
        self.assertEqual(list(m.keys()), ["a", "b", "c"])
        self.assertEqual([tuple(x) for x in m.items()], [("a", 1), ("b", 2), ("c", 3)])
        self.assertIsNone(m.get("z"))
        self.assertEqual(m.get("z", 0), 0)
        self.assertEqual(m.get("b"), 2)
        self.assertEqual(m.get("b", 0), 2)
        self.assertEqual(dict(m), {"a": 1, "b": 2, "c": 3})

    def test_mapping_key_error(self):
        m = self.root.mapping()
        with self.assertRaises(KeyError) as cm:
            m["z"]
        self.assertRemote(cm, "KeyError", ("z",))

    def test_mapping_read_only(self):
        m = self.root.mapping()
        with self.assertRaises(TypeError) as cm:
            m["a"] = 5
        self.assertRemote(cm, "TypeError")
        with self.assertRaises(TypeError):
            del m["a"]
        self.assertEqual(m["a"], 1)


class TestLiveObjects(Base):
    def test_live_objects(self):
        gc.collect()
        base = self.root.live_objects()
        self.assertIsInstance(base, int)
        self.assertGreaterEqual(base, 1)  # the root at least
        cs = [self.root.Counter(i) for i in range(5)]
        self.assertEqual(self.root.live_objects(), base + 5)
        m = self.root.mapping()
        self.assertEqual(self.root.live_objects(), base + 6)
        del cs
        gc.collect()
        self.assertEqual(self.root.live_objects(), base + 1)
        del m
        gc.collect()
        self.assertEqual(self.root.live_objects(), base)

    def test_live_objects_same_object_twice(self):
        gc.collect()
        base = self.root.live_objects()
        c = self.root.Counter()
        c2 = self.root.echo(c)
        self.assertIs(c2, c)
        self.assertEqual(self.root.live_objects(), base + 1)
        del c, c2
        gc.collect()
        self.assertEqual(self.root.live_objects(), base)


class TestAsync(Base):
    def test_async_value_and_ready(self):
        res = rpyc.async_(self.root.add)(1, 2)
        res.wait()
        self.assertTrue(res.ready)
        self.assertFalse(res.error)
        self.assertEqual(res.value, 3)

    def test_async_slow(self):
        res = rpyc.async_(self.root.sleep)(0.3)
        self.assertFalse(res.ready)
        self.assertEqual(res.value, 0.3)
        self.assertTrue(res.ready)

    def test_async_error(self):
        res = rpyc.async_(self.root.raise_error)("KeyError", "k")
        res.wait()
        self.assertTrue(res.error)
        with self.assertRaises(KeyError):
            res.value

    def test_timed_expires(self):
        res = rpyc.timed(self.root.sleep, 0.2)(1.5)
        with self.assertRaises(AsyncResultTimeout):
            res.value
        self.assertTrue(res.expired)
        # The late reply is discarded and the connection goes on.
        time.sleep(1.5)
        self.assertEqual(self.root.echo(3), 3)

    def test_timed_in_time(self):
        res = rpyc.timed(self.root.sleep, 5)(0.1)
        self.assertEqual(res.value, 0.1)
        self.assertFalse(res.expired)


class TestEvents(Base):
    def test_subscribe_fire(self):
        events = []
        done = threading.Event()

        def cb(i, payload):
            events.append((i, payload))
            if len(events) == 20:
                done.set()
        self.assertIsNone(self.root.subscribe(cb))
        bg = rpyc.BgServingThread(self.conn)
        try:
            self.assertEqual(self.root.fire(20, "p"), 20)
            self.assertTrue(done.wait(10), f"only {len(events)} events arrived")
            self.assertEqual(events, [(i, "p") for i in range(20)])

            # A later subscribe replaces the callback.
            other = []
            got = threading.Event()

            def cb2(i, payload):
                other.append((i, payload))
                if len(other) == 3:
                    got.set()
            self.root.subscribe(cb2)
            self.assertEqual(self.root.fire(3, (1, "x")), 3)
            self.assertTrue(got.wait(10))
            self.assertEqual(other, [(0, (1, "x")), (1, (1, "x")), (2, (1, "x"))])
            self.assertEqual(len(events), 20)
            self.assertEqual(self.root.fire(0, None), 0)
        finally:
            bg.stop()

    def test_fire_does_not_wait_for_replies(self):
        # fire must send every callback request and its own reply without
        # waiting for the callbacks' replies. The client sends fire
        # asynchronously and does not read: the bytes waiting in its socket
        # must then be n requests followed by the reply.
        seen = []
        self.root.subscribe(lambda i, payload: seen.append(i))
        res = rpyc.async_(self.root.fire)(3, "x")
        sock = self.conn._channel.stream.sock
        fire_seq = next(seq for seq, cb in self.conn._request_callbacks.items() if cb is res)
        msgs = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msgs = peek_messages(sock)
            if (consts.MSG_REPLY, fire_seq) in msgs:
                break
            time.sleep(0.05)
        # Replies to other requests (a DEL of a released proxy) may be
        # interleaved; what matters is fire's reply behind all 3 requests.
        self.assertIn((consts.MSG_REPLY, fire_seq), msgs)
        before = msgs[:msgs.index((consts.MSG_REPLY, fire_seq))]
        self.assertEqual([m for m, _ in before].count(consts.MSG_REQUEST), 3, msgs)
        self.assertEqual(res.value, 3)
        self.assertEqual(seen, [0, 1, 2])

    def test_fire_without_subscriber(self):
        self.assertEqual(self.root.fire(5, "x"), 5)
        self.conn.serve(0.2)  # nothing arrives, nothing fails
        self.assertEqual(self.root.echo(1), 1)


class ClientService(rpyc.Service):
    def exposed_hello(self, name):
        return "hello " + name

    def exposed_add(self, a, b=10):
        return a + b


class TestPeerCall(unittest.TestCase):
    def test_peer_call(self):
        conn = connect(service=ClientService)
        try:
            root = conn.root
            self.assertEqual(root.peer_call("hello", "go"), "hello go")
            self.assertEqual(root.peer_call("add", 1, 2), 3)
            self.assertEqual(root.peer_call("add", 1), 11)
            with self.assertRaises(AttributeError):
                root.peer_call("nosuch")
            self.assertEqual(root.peer_call("get_service_name"), "CLIENT")
        finally:
            conn.close()

    def test_peer_call_void(self):
        conn = connect()
        try:
            self.assertEqual(conn.root.peer_call("get_service_name"), "VOID")
        finally:
            conn.close()


class TestIdentity(unittest.TestCase):
    def test_connection_id(self):
        c1, c2 = connect(), connect()
        try:
            i1 = c1.root.connection_id()
            self.assertIsInstance(i1, int)
            self.assertEqual(c1.root.connection_id(), i1)
            i2 = c2.root.connection_id()
            self.assertNotEqual(i1, i2)
        finally:
            c1.close()
            c2.close()
        seen = {i1, i2}
        for _ in range(5):
            c = connect()
            try:
                i = c.root.connection_id()
            finally:
                c.close()
            self.assertNotIn(i, seen, "connection id reused")
            seen.add(i)

    def test_pid(self):
        c = connect()
        try:
            pid = c.root.pid()
            self.assertIsInstance(pid, int)
            self.assertGreater(pid, 0)
            if SERVER_PID:
                self.assertEqual(pid, SERVER_PID)
        finally:
            c.close()


class TestSecret(Base):
    def test_secret_unreachable(self):
        with self.assertRaises(AttributeError):
            self.root.secret
        with self.assertRaises(AttributeError):
            self.root.secret()
        self.assertFalse(hasattr(self.root, "secret"))
        self.assertEqual(getattr(self.root, "secret", 7), 7)
        for name in ("exposed_secret", "Secret", "_secret", "__dict__", "__class__"):
            with self.subTest(name=name):
                with self.assertRaises(AttributeError):
                    getattr(self.root, name)
        with self.assertRaises(AttributeError):
            self.conn.sync_request(consts.HANDLE_CALLATTR, self.root, "secret", (), ())

    def test_root_setattr_delattr_denied(self):
        with self.assertRaises(AttributeError):
            self.root.version = "x"
        with self.assertRaises(AttributeError):
            del self.root.version
        with self.assertRaises(AttributeError):
            self.root.newattr = 1
        self.assertIs(type(self.root.version), str)


class TestProtocol(Base):
    def test_ping(self):
        self.conn.ping()
        self.assertEqual(self.conn.sync_request(consts.HANDLE_PING, "x"), "x")
        self.assertEqual(self.conn.sync_request(consts.HANDLE_PING, (1, b"2")), (1, b"2"))

    def test_str_repr_of_root(self):
        self.assertIsInstance(str(self.root), str)
        self.assertIsInstance(repr(self.root), str)
        self.assertIn("echo", dir(self.root))

    def test_unknown_handler(self):
        for code in (99, 0, 21, 200):
            with self.subTest(code=code):
                with self.assertRaises(Exception):
                    self.conn.sync_request(code)
        self.assertEqual(self.root.echo(1), 1)

    def test_stale_reference(self):
        c = self.root.Counter(1)
        id_pack = c.____id_pack__
        self.assertEqual(c.value, 1)
        del c
        gc.collect()
        self.root.echo(0)  # the DEL is applied before this is answered
        boxed = (consts.LABEL_TUPLE, ((consts.LABEL_LOCAL_REF, id_pack), (consts.LABEL_VALUE, "value")))
        with self.assertRaises(Exception) as cm:
            raw_request(self.conn, consts.HANDLE_GETATTR, boxed)
        self.assertNotIsInstance(cm.exception, AsyncResultTimeout)
        self.assertEqual(self.root.echo(2), 2)

    def test_close_request(self):
        # A CLOSE request makes the server close the connection: no reply,
        # then EOF.
        self.conn.async_request(consts.HANDLE_CLOSE)
        with self.assertRaises(EOFError):
            for _ in range(50):
                self.conn.serve(0.1)
        # The server goes on serving others.
        c = connect()
        try:
            self.assertEqual(c.root.echo(1), 1)
        finally:
            c.close()

    def test_client_close(self):
        self.conn.close()
        c = connect()
        try:
            self.assertEqual(c.root.echo(1), 1)
        finally:
            c.close()


def main():
    global PORT, SERVER_PID
    argv = sys.argv[1:]
    PORT = int(argv.pop(0))
    if argv and not argv[0].startswith("-"):
        SERVER_PID = int(argv.pop(0))
    prog = unittest.main(argv=[sys.argv[0], "-v"] + argv, exit=False)
    ok = prog.result.wasSuccessful()
    print("CONFORMANCE:", "PASS" if ok else "FAIL",
          f"({prog.result.testsRun} tests, {len(prog.result.failures)} failures, "
          f"{len(prog.result.errors)} errors)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
