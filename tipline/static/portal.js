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
      if (identity) { identity.hidden = !anonymous || anonymous.value !== "no"; }
    };
    form.addEventListener("change", update);
    update();
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
