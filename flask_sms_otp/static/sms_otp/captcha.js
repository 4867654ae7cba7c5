/* flask-sms-otp: reCAPTCHA v3 and Enterprise score keys show no widget. When the form is
   sent, ask reCAPTCHA for a token, put it in the hidden g-recaptcha-response field and send
   the form then. Without this file or Google's script the form is sent without a token and
   the server answers that the check is missing (captcha_failed). */
(function () {
  "use strict";

  function listen(field) {
    var form = field.form;
    if (!form) {
      return;
    }
    form.addEventListener("submit", function (event) {
      var google = window.grecaptcha;
      var api = google && (field.dataset.enterprise ? google.enterprise : google);
      if (field.value || !api || typeof api.execute !== "function") {
        return;
      }
      event.preventDefault();
      api.ready(function () {
        api.execute(field.dataset.smsOtpRecaptcha, {action: field.dataset.action})
          .then(function (token) {
            field.value = token;
            form.submit();
          });
      });
    });
  }

  document.querySelectorAll("input[data-sms-otp-recaptcha]").forEach(listen);
})();
