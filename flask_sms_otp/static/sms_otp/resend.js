/* flask-sms-otp: keep "Send a new code" disabled until the server will accept it, and show
   the seconds left. Progressive enhancement only: without this file the button works and
   the server answers an early resend with a 429 and the time to wait.
   The texts come translated from the button's data-text-* attributes (the "resend" macro in
   _macros.html); a template without them gets the English ones below. */
(function () {
  "use strict";

  var ENGLISH = {
    "wait-one": "You can ask for a new code in 1 second.",
    "wait-many": "You can ask for a new code in {} seconds.", // {}: the seconds left
    "ready": "You can ask for a new code now."
  };

  function text(button, name) {
    var value = button.getAttribute("data-text-" + name);
    return value === null ? ENGLISH[name] : value;
  }

  function waitText(button, seconds) {
    if (seconds === 1) {
      return text(button, "wait-one");
    }
    return text(button, "wait-many").split("{}").join(String(seconds));
  }

  function countdown(button) {
    var left = parseInt(button.getAttribute("data-resend-in"), 10) || 0;
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (left <= 0) {
      return;
    }
    var end = Date.now() + left * 1000;
    button.disabled = true;
    if (status) {
      status.setAttribute("aria-live", "off"); // no announcement every second
    }

    function tick() {
      var seconds = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if (seconds > 0) {
        if (status) {
          status.textContent = waitText(button, seconds);
        }
        window.setTimeout(tick, 1000);
        return;
      }
      button.disabled = false;
      if (status) {
        status.setAttribute("aria-live", "polite");
        status.textContent = text(button, "ready");
      }
    }

    tick();
  }

  function start() {
    var buttons = document.querySelectorAll("button[data-resend-in]");
    for (var i = 0; i < buttons.length; i++) {
      countdown(buttons[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
