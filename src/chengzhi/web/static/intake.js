/* The phone-intake form, keyboard only: Ctrl+Enter (or Cmd+Enter) registers the call, Alt+1..3 answers it with
   the first, second or third article beside the form, Alt+N clears the form for the next call. */
(function () {
  "use strict";
  var form = document.getElementById("intake-form");
  if (!form) { return; }
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      form.requestSubmit();
      return;
    }
    if (!e.altKey || e.ctrlKey || e.metaKey) { return; }
    var digit = /^Digit([1-3])$/.exec(e.code || "");
    if (digit) {
      var buttons = document.querySelectorAll("#kb-answers button[name=article_id]");
      var button = buttons[parseInt(digit[1], 10) - 1];
      if (button) { e.preventDefault(); button.click(); }
      return;
    }
    if (e.code === "KeyN") {
      e.preventDefault();
      window.location.assign("/staff/intake");
    }
  });
})();
