"""The browser side of the camera and microphone consent toggles (JavaScript the page runs).

Consent on starts the device in one action: the toggle shows the webcam or microphone component and this script
presses its access and streaming buttons (Gradio's own "Record"/"Stop" buttons are hidden: the toggle is the
switch). Consent off hides the component, which makes Gradio stop its streams, and this script also stops every
track of that kind the page ever opened (getUserMedia is wrapped to keep a list), so the camera light goes out
whatever a Gradio version does on unmount.
"""

from __future__ import annotations

START_TIMEOUT_MS = 40000  # the component appears after the server answers the toggle; a loaded box is slow
RETRY_MS = 10000  # a press that changed nothing in this long is repeated
SETTLE_MS = 1500  # a component just shown is left this long before its buttons are pressed

HEAD = """<script>
(() => {
  const opened = [];
  window.empathicOpenedStreams = opened;
  const devices = navigator.mediaDevices;
  if (devices && devices.getUserMedia) {
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      const stream = await getUserMedia(constraints);
      opened.push(stream);
      return stream;
    };
  }
  window.empathicRelease = (kind) => {
    for (const stream of opened) {
      for (const track of stream.getTracks()) { if (track.kind === kind) track.stop(); }
    }
  };
  const buttonWith = (root, text) => [...root.querySelectorAll('button')].find(b => b.textContent.includes(text));
  // Each button is pressed once (a second press while the device opens would stop it again); a press that
  // changed nothing in RETRY_MS is repeated.
  window.empathicStart = (which) => new Promise((resolve) => {
    const started = Date.now();
    const pressed = {};
    const press = (name, button) => {
      if (!button || (pressed[name] && Date.now() - pressed[name] < %(retry)d)) return;
      pressed[name] = Date.now();
      button.click();
    };
    let seenAt = null;
    const step = () => {
      const root = document.getElementById(which === 'camera' ? 'webcam' : 'mic');
      if (root && seenAt === null) seenAt = Date.now();
      // A press right after the component mounts can race the set-up of its stream (its first request is aborted
      // and nothing is sent): give it SETTLE_MS first.
      if (root && Date.now() - seenAt >= %(settle)d) {
        if (which === 'camera') {
          const capture = root.querySelector('button.capture-button');
          if (capture && capture.textContent.includes('Stop')) return resolve(true);
          if (capture && capture.textContent.includes('Record')) press('record', capture);
          else press('access', buttonWith(root, 'Click to Access Webcam'));
        } else {
          if (root.querySelector('button.stop-button')) return resolve(true);
          press('record', root.querySelector('button.record-button'));
        }
      }
      if (Date.now() - started > %(timeout)d) return resolve(false);
      setTimeout(step, 200);
    };
    step();
  });
})();
</script>""" % {"timeout": START_TIMEOUT_MS, "retry": RETRY_MS, "settle": SETTLE_MS}

# Gradio's own stream buttons are hidden: the consent toggle starts and stops the device.
CSS = """
#webcam .button-wrap, #mic .controls .record-button, #mic .controls .stop-button,
#mic .controls .spinner-button { display: none !important; }
"""


def on_toggle_js(kind: str) -> str:
    """Runs in the page before the server hears the toggle: off stops the device's tracks at once."""
    track_kind = {"camera": "video", "microphone": "audio"}[kind]
    return f"(on) => {{ if (!on && window.empathicRelease) window.empathicRelease('{track_kind}'); return on; }}"


def after_toggle_js(kind: str) -> str:
    """Runs once the server has shown the component: on presses its buttons until it streams."""
    return f"(on) => {{ if (on && window.empathicStart) window.empathicStart('{kind}'); return on; }}"
