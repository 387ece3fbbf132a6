// The console's countdown to the credentials' expiry and its copy buttons. The page works
// without this script: it only adds the live countdown and the clipboard.
"use strict";
(function () {
  var countdown = document.getElementById("countdown");
  if (countdown) {
    var expires = Number(countdown.getAttribute("data-expires"));
    var tick = function () {
      var left = Math.floor(expires - Date.now() / 1000);
      if (left <= 0) {
        countdown.textContent = "(expired)";
        return;
      }
      var h = Math.floor(left / 3600);
      var m = Math.floor((left % 3600) / 60);
      var s = left % 60;
      countdown.textContent = "(in " + (h > 0 ? h + " h " : "") + m + " min " + s + " s)";
      setTimeout(tick, 1000);
    };
    tick();
  }
  // The copy buttons are hidden until this script shows them: without it, or without a
  // clipboard (a page not served over HTTPS or from loopback), they would do nothing.
  if (!navigator.clipboard) {
    return;
  }
  var buttons = document.querySelectorAll("button.copy");
  Array.prototype.forEach.call(buttons, function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) {
        return;
      }
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
  });
})();
