// Clock enable of one LFSR draw: after `start`, `en` is high for exactly STEPS clocks, then `done`
// is high for one clock.
`timescale 1ns/1ps
module xpk_draw_ctl #(
    parameter integer STEPS = 8
) (
    input  wire clk,
    input  wire rst,
    input  wire start,
    output reg  en,
    output reg  done
);
    reg [7:0] cnt;
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            en <= 1'b0;
            cnt <= 8'd0;
        end else if (start) begin
            en <= 1'b1;
            cnt <= STEPS;
        end else if (en) begin
            if (cnt == 8'd1) begin
                en <= 1'b0;
                done <= 1'b1;
            end
            cnt <= cnt - 8'd1;
        end
    end
endmodule
