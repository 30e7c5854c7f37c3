/* Live progress of running workers on the staff pages (no dependencies).

   An element carries data-progress-url while a worker runs: the request page's next-step
   box (an erasure job, a package build), the retention page's sweeps. Every few seconds
   this asks that URL (JSON, same origin, the staff session's cookie) and writes the texts
   it answers into the elements marked data-progress-field="<name>": the request page's
   named keys, and any `fields` ({name: text}) and `bars` ([{id, done, total}], for
   <progress> elements). When the worker is done it stops and offers to reload. Without
   JavaScript the page shows the progress as loaded, with a refresh link. */
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var every = parseInt(box.getAttribute("data-progress-interval") || "2000", 10);
  var failures = 0;

  document.querySelectorAll("[data-progress-hide-with-js]").forEach(function (el) {
    el.hidden = true;
  });

  function set(name, text) {
    if (text === undefined || text === null) {
      return;
    }
    document.querySelectorAll('[data-progress-field="' + name + '"]').forEach(function (el) {
      if (el.textContent !== String(text)) {
        el.textContent = text;
      }
    });
  }

  function bar(id, done, total) {
    var element = document.getElementById(id);
    if (element) {
      element.max = Math.max(1, total);
      element.value = done;
      element.textContent = done + "/" + total;
    }
  }

  function show(data) {
    set("next_step", data.next_step);
    if (data.job) {
      set("job.state_label", data.job.state_label);
      set("job.text", data.job.text);
      bar("job-progress", data.job.done, data.job.total);
    }
    Object.keys(data.fields || {}).forEach(function (name) {
      set(name, data.fields[name]);
    });
    (data.bars || []).forEach(function (b) {
      bar(b.id, b.done, b.total);
    });
    if (data.package) {
      set("package.state_label", data.package.state_label);
    }
    if (data.tone) {
      box.className = box.className.replace(/next-step-\w+/, "next-step-" + data.tone);
    }
  }

  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        show(data);
        if (data.running) {
          window.setTimeout(tick, every);
        } else {
          var done = document.getElementById("progress-finished");
          if (done) {
            done.hidden = false;
          }
        }
      })
      .catch(function () {
        failures += 1;
        if (failures < 5) {
          window.setTimeout(tick, every * (failures + 1));
        }
      });
  }

  window.setTimeout(tick, every);
})();
