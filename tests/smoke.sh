#!/usr/bin/env bash
# A real-window smoke check: the studio under Xvfb with Qt's xcb platform (not offscreen), driven by
# real mouse and keys (xdotool): drag a layer from the palette, train one epoch, look at the views,
# quit. Screenshots of the whole X screen go to $SMOKE_DIR (default /tmp/smoke). `make smoke` runs it.
set -u
SMOKE_DIR=${SMOKE_DIR:-/tmp/smoke}
PY=${PY:-.venv/bin/python}
DISPLAY_NUMBER=${SMOKE_DISPLAY:-:97}
SIZE=1400x900

need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v xwd >/dev/null || need+=(x11-apps)
convert=""
for candidate in $(type -ap magick convert); do  # the first that really is ImageMagick
    "$candidate" -version 2>/dev/null | grep -q ImageMagick && { convert=$candidate; break; }
done
[ -n "$convert" ] || need+=(imagemagick)
if ((${#need[@]})); then
    echo "make smoke needs: ${need[*]}. Install: sudo apt-get install ${need[*]} (and, for a window manager, openbox)" >&2
    exit 2
fi
if ! QT_QPA_PLATFORM=xcb "$PY" -m ui.platform_check; then
    exit 2
fi

mkdir -p "$SMOKE_DIR"
rm -f "$SMOKE_DIR"/*.png "$SMOKE_DIR"/project.cnnproj.json
rm -rf "$SMOKE_DIR"/project*.runs "$SMOKE_DIR/home"
mkdir -p "$SMOKE_DIR/home"
log="$SMOKE_DIR/app.log"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

Xvfb "$DISPLAY_NUMBER" -screen 0 ${SIZE}x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
export DISPLAY=$DISPLAY_NUMBER
for _ in $(seq 50); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.1; done
if command -v openbox >/dev/null; then openbox >/dev/null 2>&1 & pids+=($!); sleep 0.5; fi

fail() { echo "smoke: FAILED: $*" >&2; shot failure; echo "log: $log" >&2; exit 1; }
shot() { xwd -root -silent | "$convert" xwd:- "$SMOKE_DIR/$1.png"; echo "smoke: screenshot $SMOKE_DIR/$1.png"; }
title() { xdotool getwindowname "$win" 2>/dev/null; }
seconds_since() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

# digits-cnn as a project file that trains for one epoch
"$PY" - "$SMOKE_DIR/project.cnnproj.json" <<'PYEOF'
import sys
from cnnstudio.network import presets
from cnnstudio.workspace.project import Project, save_project
save_project(Project(network=presets.get("digits-cnn"), training={"epochs": 1, "dataset": "digits"}), sys.argv[1])
PYEOF

started=$(date +%s%N)
HOME="$SMOKE_DIR/home" XDG_CONFIG_HOME="$SMOKE_DIR/home/.config" XDG_DATA_HOME="$SMOKE_DIR/home/.local/share" \
    QT_QPA_PLATFORM=xcb "$PY" -m ui gui "$SMOKE_DIR/project.cnnproj.json" >"$log" 2>&1 &
app=$!
pids+=($app)
win=$(xdotool search --sync --onlyvisible --name "CNN Studio" 2>/dev/null | head -1)
[ -n "$win" ] || fail "the window did not appear"
echo "smoke: window up in $(seconds_since "$started") s: $(title)"
xdotool windowsize "$win" 1400 860 windowmove "$win" 0 0 windowactivate --sync "$win" 2>/dev/null
sleep 1.5
shot 01-start

# drag Dropout from the palette (searched with Ctrl+F) onto the connection from pool to flatten: it is
# inserted there (MaxPool -> Dropout -> Flatten, as in Keras' MNIST convnet), not appended after the softmax
xdotool key --window "$win" ctrl+f
sleep 0.3
xdotool type --delay 40 "Dropout"
sleep 0.5
item_x=45; item_y=97     # the first match under the "Regularization" group, in window coordinates
drop_x=585; drop_y=530   # the line from pool's output port down to flatten
xdotool mousemove --window "$win" $item_x $item_y; sleep 0.2
xdotool mousedown 1; sleep 0.2
for step in 1 2 3 4 5 6 7 8 9 10; do
    xdotool mousemove --window "$win" $((item_x + (drop_x - item_x) * step / 10)) $((item_y + (drop_y - item_y) * step / 10))
    sleep 0.05
done
sleep 0.3
shot 02-dragging-onto-a-connection
xdotool mouseup 1
sleep 1
shot 03-after-drag
case "$(title)" in *"*"*) echo "smoke: the drop edited the network: $(title)";; *) fail "the drag from the palette changed nothing: $(title)";; esac

# train one epoch (Ctrl+Return opens the Train tab and starts); the run is saved with the project
xdotool key --window "$win" ctrl+Return
for _ in $(seq 240); do
    grep -q '"run-0' "$SMOKE_DIR/project.cnnproj.json" 2>/dev/null && break
    kill -0 $app 2>/dev/null || fail "the app exited while training"
    sleep 0.5
done
grep -q '"run-0' "$SMOKE_DIR/project.cnnproj.json" || fail "no run was recorded within 2 minutes"
sleep 1.5
shot 04-trained
echo "smoke: trained one epoch: $(title)"
"$PY" - "$SMOKE_DIR/project.cnnproj.json" <<'PYEOF' || fail "the saved network lacks the Dropout between pool and flatten"
import json, sys
project = json.load(open(sys.argv[1]))
layers, [run] = project["network"]["layers"], project["runs"]
types = [layer["type"] for layer in layers]
print(f"smoke: saved {' > '.join(types)}; {run['id']} {run['status']}, "
      f"val_accuracy {run['history']['val_accuracy'][-1]:.3f}")
sys.exit(types[2:5] != ["MaxPool2D", "Dropout", "Flatten"] or run["status"] != "completed")
PYEOF

for tab in 3 4 5; do  # Filters, Activations, Results
    xdotool key --window "$win" alt+$tab
    sleep 2.5
    shot "0$((tab + 2))-tab-$tab"
done

# quit with Ctrl+Q: nothing is unsaved, so it closes at once; shutdown must be bounded
quit_started=$(date +%s%N)
xdotool key ctrl+q 2>/dev/null  # the active window; it is gone before an X reply could come
for _ in $(seq 300); do kill -0 $app 2>/dev/null || break; sleep 0.1; done
if kill -0 $app 2>/dev/null; then fail "the app was still running 30 s after Ctrl+Q"; fi
wait $app; rc=$?
echo "smoke: quit in $(seconds_since "$quit_started") s with exit code $rc"
[ "$rc" = 0 ] || fail "the app exited with $rc"
echo "smoke: OK; screenshots in $SMOKE_DIR"
