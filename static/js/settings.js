// The settings panel: per-conversation system prompt, temperature, top_p, answer length.
const dialog = document.querySelector("#settings-dialog");
const form = document.querySelector("#settings-form");

export function initSettings(socket) {
  document.querySelector("#open-settings").addEventListener("click", () => dialog.showModal());
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "save") return;
    const data = new FormData(form);
    socket.emit("settings", {
      system_prompt: data.get("system_prompt"),
      temperature: Number(data.get("temperature")),
      top_p: Number(data.get("top_p")),
      max_tokens: Number(data.get("max_tokens")),
    });
  });

  return {
    show(values) {
      for (const name of ["system_prompt", "temperature", "top_p", "max_tokens"]) {
        form.elements[name].value = values[name];
      }
      document.querySelector("#settings-model").textContent = values.model || "server default";
    },
  };
}
