// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function fill(select, places, blank) {
    select.innerHTML = "";
    var first = document.createElement("option");
    first.value = "";
    first.textContent = blank;
    select.appendChild(first);
    places.forEach(function (place) {
      var option = document.createElement("option");
      option.value = place.code;
      option.textContent = place.name;
      select.appendChild(option);
    });
  }

  function cascade(parent, child, grandchild) {
    var blank = child.options.length ? child.options[0].textContent : "";
    parent.addEventListener("change", function () {
      fill(child, [], blank);
      if (grandchild) {
        fill(grandchild, [], grandchild.options.length ? grandchild.options[0].textContent : "");
      }
      if (!parent.value) { return; }
      fetch("/regions/" + encodeURIComponent(parent.value), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (places) { fill(child, places, blank); })
        .catch(function () { /* the no-JavaScript buttons still work */ });
    });
  }

  var form = document.getElementById("report-form");
  if (form) {
    // Set by script, the one-time token counts as typed: the browser then gives it back
    // with the rest of the form when the reporter goes Back (issue 8).
    var token = form.querySelector("input[name=form_token]");
    if (token) { token.value = token.value; }
    document.querySelectorAll(".refine").forEach(function (el) { el.hidden = true; });
    var province = document.getElementById("province");
    var city = document.getElementById("city");
    var county = document.getElementById("county");
    if (province && city && county) {
      cascade(province, city, county);
      cascade(city, county, null);
    }
    var note = document.getElementById("out-of-scope-note");
    var identity = document.getElementById("identity-fields");
    var update = function () {
      var chosen = form.querySelector("input[name=category]:checked");
      if (note) { note.hidden = !(chosen && chosen.value === "out_of_scope"); }
      var anonymous = form.querySelector("input[name=anonymous]:checked");
      if (identity) {
        // Details already written stay in view, so nothing is sent that cannot be seen.
        var written = Array.prototype.some.call(
          identity.querySelectorAll("input[type=text], input:not([type])"),
          function (input) { return input.value.trim() !== ""; });
        var real = anonymous && anonymous.value === "no";
        identity.hidden = !real && !written && !identity.hasAttribute("data-keep-open");
      }
    };
    form.addEventListener("change", update);
    update();

    // File sizes are checked before anything is sent: over a limit, nothing typed is lost.
    var files = document.getElementById("attachments");
    var sizeNote = document.getElementById("attachments-size");
    var mb = function (bytes) {
      var value = bytes / 1048576;
      return value >= 10 || value === Math.floor(value) ? String(Math.round(value)) : value.toFixed(1);
    };
    var sizeProblems = function () {
      if (!files || !sizeNote || !files.files) { return []; }
      var each = Number(files.getAttribute("data-max-file"));
      var limit = Number(files.getAttribute("data-max-total"));
      var found = [];
      var total = 0;
      Array.prototype.forEach.call(files.files, function (file) {
        total += file.size;
        if (file.size > each) {
          found.push(sizeNote.getAttribute("data-each")
            .replace("{name}", file.name).replace("{size}", mb(file.size)));
        }
      });
      if (total > limit) {
        found.push(sizeNote.getAttribute("data-total").replace("{size}", mb(total)));
      }
      return found;
    };
    var showSizes = function () {
      var found = sizeProblems();
      sizeNote.textContent = found.join(" ");
      sizeNote.hidden = found.length === 0;
      if (files) { files.setAttribute("aria-invalid", found.length ? "true" : "false"); }
      return found.length === 0;
    };
    if (files && sizeNote) {
      files.addEventListener("change", showSizes);
      form.addEventListener("submit", function (event) {
        var submitter = event.submitter;
        if (submitter && submitter.name === "refine") { return; }
        if (!showSizes()) {
          event.preventDefault();
          files.focus();
        }
      });
    }
    var problems = document.getElementById("problems");
    if (problems) { problems.focus(); }
  }

  // The status page: the error summary, else the "it arrived" notice, takes the focus, so
  // a screen reader reads it and the page shows it first (autofocus does so without JS).
  var summary = document.getElementById("errors") || document.getElementById("notice");
  if (summary && !form) { summary.focus(); }

  var done = document.getElementById("receipt-done");
  if (done) {
    var box = document.getElementById("written_down");
    var leaving = function (event) {
      if (box && box.checked) { return undefined; }
      event.preventDefault();
      event.returnValue = "";
      return "";
    };
    window.addEventListener("beforeunload", leaving);
    done.addEventListener("submit", function () {
      window.removeEventListener("beforeunload", leaving);
    });
    var print = document.getElementById("print-receipt");
    if (print) {
      print.hidden = false;
      print.addEventListener("click", function () { window.print(); });
    }
  }
})();
