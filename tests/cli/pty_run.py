"""
Runs a command with a pseudo-terminal as its stdin/stdout/stderr, the way a user at a
terminal runs it: writes the input (echo off, so the output is the command's alone) and
prints {"output", "code"} as JSON; code is null if the command did not exit within the
timeout (it is then killed). Usage: pty_run.py ARGV_JSON INPUT TIMEOUT_SECONDS
"""
import json, os, pty, select, sys, termios, time
argv, data, timeout = json.loads(sys.argv[1]), sys.argv[2].encode(), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
attrs = termios.tcgetattr(fd)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(fd, termios.TCSANOW, attrs)
os.write(fd, data)
out, status, deadline = b"", None, time.time() + timeout
while status is None:
    if select.select([fd], [], [], 0.05)[0]:
        try:
            out += os.read(fd, 65536)
        except OSError:
            pass
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
    elif time.time() > deadline:
        break
while select.select([fd], [], [], 0)[0]:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
if status is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(json.dumps({"output": out.decode("utf-8", "replace"), "code": None if status is None else os.waitstatus_to_exitcode(status)}))
