// Entry of the committee office's console (/console).
import { render } from "preact";
import { Console } from "./Console";
import "./console.css";

const root = document.getElementById("console");
if (root) {
  root.textContent = "";
  render(<Console />, root);
}
