/* flask-sms-otp: group the digits of a phone number as the person types, in the shape of the
   country picked beside it. Progressive enhancement only: without this file the number is
   posted as typed, and the server reads it the same way (it ignores spaces, brackets and
   dashes). The shapes come from the server: each <option> of the selector carries
   data-pattern ("##### ######", a # per digit, from phonenumbers' example number), and,
   where that shape starts with the national prefix, data-trunk ("0") and data-short (the
   shape without it). A number starting with + (or holding anything but digits and
   separators) is left as typed; the caret stays after the same digit. */
(function () {
  "use strict";

  var SEPARATORS = /^[\d\s().\-]*$/;

  function digitsOf(text) {
    return text.replace(/\D/g, "");
  }

  /* The digits laid into the pattern; digits beyond it follow ungrouped. No separator is
     added after the last digit, so deleting is never undone by the next keystroke. */
  function format(digits, option) {
    var pattern = option.getAttribute("data-pattern");
    var trunk = option.getAttribute("data-trunk");
    if (trunk && digits.indexOf(trunk) !== 0 && trunk.indexOf(digits) !== 0) {
      pattern = option.getAttribute("data-short");
    }
    if (!pattern || !digits) {
      return digits;
    }
    var out = "";
    var used = 0;
    for (var i = 0; i < pattern.length && used < digits.length; i += 1) {
      if (pattern.charAt(i) === "#") {
        out += digits.charAt(used);
        used += 1;
      } else {
        out += pattern.charAt(i);
      }
    }
    return out + digits.slice(used);
  }

  /* Where the caret goes: after the same number of digits as before. */
  function caretAfter(text, count) {
    if (count === 0) {
      return 0;
    }
    var seen = 0;
    for (var i = 0; i < text.length; i += 1) {
      if (/\d/.test(text.charAt(i))) {
        seen += 1;
        if (seen === count) {
          return i + 1;
        }
      }
    }
    return text.length;
  }

  function attach(select) {
    var input = document.getElementById(select.getAttribute("data-phone-for"));
    if (!input) {
      return;
    }
    var lastDigits = digitsOf(input.value);

    function reformat(event) {
      if (event && event.isComposing) {
        return; /* an input method is still composing: wait for its result */
      }
      var value = input.value;
      var option = select.options[select.selectedIndex];
      if (!option || !option.value || !SEPARATORS.test(value)) {
        lastDigits = digitsOf(value);
        return;
      }
      var focused = document.activeElement === input;
      var caret = focused && input.selectionStart !== null ? input.selectionStart : value.length;
      var before = digitsOf(value.slice(0, caret)).length;
      var digits = digitsOf(value);
      if (event && event.inputType === "deleteContentBackward" && digits === lastDigits &&
          before > 0) {
        /* Backspace over a separator: take the digit before it instead. */
        digits = digits.slice(0, before - 1) + digits.slice(before);
        before -= 1;
      }
      var formatted = format(digits, option);
      lastDigits = digits;
      if (formatted === value) {
        return;
      }
      input.value = formatted;
      if (focused && typeof input.setSelectionRange === "function") {
        var position = caretAfter(formatted, before);
        input.setSelectionRange(position, position);
      }
    }

    input.addEventListener("input", reformat);
    select.addEventListener("change", function () {
      reformat(null);
    });
    reformat(null);
  }

  function start() {
    var selects = document.querySelectorAll("select[data-phone-for]");
    for (var i = 0; i < selects.length; i += 1) {
      attach(selects[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
