/* flask-sms-otp: fill the code in from the SMS with the WebOTP API, where the browser has it,
   and submit the form. Progressive enhancement only: without this file, or in a browser
   without WebOTP, the field's autocomplete="one-time-code" offers the code (iOS, Android
   keyboards) and the user submits. The request is aborted when the form is submitted by
   hand. The SMS must end with "@<host> #<code>" (SMS_OTP_WEBOTP_DOMAIN). */
(function () {
  "use strict";

  if (!("OTPCredential" in window) || !navigator.credentials ||
      typeof navigator.credentials.get !== "function" ||
      typeof window.AbortController !== "function") {
    return;
  }

  function listen(input) {
    var form = input.form;
    if (!form) {
      return;
    }
    var controller = new AbortController();
    form.addEventListener("submit", function () {
      controller.abort();
    });
    navigator.credentials.get({otp: {transport: ["sms"]}, signal: controller.signal})
      .then(function (credential) {
        if (!credential || !credential.code || controller.signal.aborted) {
          return;
        }
        input.value = credential.code;
        controller.abort();
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      })
      .catch(function () {
        /* aborted, refused or timed out: the user types the code */
      });
  }

  function start() {
    var input = document.querySelector('form input[autocomplete="one-time-code"]');
    if (input) {
      listen(input);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
