// Entry of the public topic board (码上议事, /board).
import { render } from "preact";
import { Board } from "./Board";
import "./board.css";

const root = document.getElementById("board");
if (root) {
  root.textContent = "";
  render(<Board />, root);
}
