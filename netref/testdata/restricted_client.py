"""Python's view of a restricted Go object (netref.Restricted).

Usage: restricted_client.py PORT. The Go service's root has account(),
which returns Restricted(acct, readable=[owner, balance, deposit, __len__],
writable=[balance]).
"""
import sys

import rpyc

c = rpyc.connect("127.0.0.1", int(sys.argv[1]))
a = c.root.account()

assert a.owner == "ann", a.owner
assert a.balance == 10, a.balance
assert a.deposit(5) == 15
assert len(a) == 3

for name in ("secret", "wipe", "nope", "Secret"):
    try:
        getattr(a, name)
    except AttributeError as e:
        print("denied get", name, e)
    else:
        raise SystemExit("read allowed: " + name)
assert not hasattr(a, "secret")

# A method's __self__ is not reachable (it would lead behind the view).
try:
    a.deposit.__self__
except AttributeError:
    print("denied __self__")
else:
    raise SystemExit("read allowed: deposit.__self__")
assert getattr(a, "secret", "dflt") == "dflt"

a.balance = 100
assert a.balance == 100

for name in ("owner", "secret"):
    try:
        setattr(a, name, "eve")
    except AttributeError as e:
        print("denied set", name, e)
    else:
        raise SystemExit("write allowed: " + name)

try:
    del a.balance
except AttributeError:
    print("denied del balance")
else:
    raise SystemExit("delete allowed")

try:
    a()
except TypeError:
    print("not callable")
else:
    raise SystemExit("call allowed")

print("dir", sorted(dir(a)))
print("repr", repr(a))
c.close()
print("ok")
